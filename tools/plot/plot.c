/* plot: the study's figures through gnuplot (docs/plot.md). This file runs a
 * job: a folder with plot.gp and its data, gnuplot started there, the image
 * copied to -o through cli_out so that it appears whole or not at all. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cli.h"
#include "plot.h"

static const char *usage = "plot KIND [options] FILE...";
static const char *about =
	"Draws one figure of the study with gnuplot (gnuplot-nox). KIND and its inputs:\n"
	"  layers FILE...      mean distance per layer with the interquartile band, one\n"
	"                      curve per FILE (paper fig. 3; e.g. ResNet and VGG overlaid)\n"
	"  sample FILE         one sample's label distribution p/sum(p) at --layers beside\n"
	"                      its target y/sum(y) (fig. 4); FILE holds labels (and wdist,\n"
	"                      shown in the legend), prob from FILE or --prob\n"
	"  epochs FILE         distance per snapshot epoch for each snapshot layer, mean and\n"
	"                      interquartile band of wdist_epochs (fig. 6)\n"
	"  adjacent FILE       change of the label distribution between adjacent snapshots:\n"
	"                      mean total variation of prob_epochs[e] and [e+1], which is\n"
	"                      the Wasserstein distance under the 0-1 cost (fig. 15)\n"
	"  measures FILE       wdist beside cheb, jsd (and kl, tv when present) per layer,\n"
	"                      one panel each (figs. 11-12)\n"
	"  overthinking FILE...  early-exit outputs: share of the last layer's errors right\n"
	"                      at each layer, and first right there (tables 2-3), one panel each\n"
	"  categories FILE     a classify-samples output: for an easy, a hard and a confused\n"
	"                      example, the image, its distributions and its distance profile\n"
	"                      (figs. 5, 17); prob from FILE or --prob, the image from an\n"
	"                      `images` tensor (FILE or --images) or --dataset SPEC by `ids`\n"
	"Rows: --split (test by default; every row when there is no split tensor).";

const char *const plot_colors[8] = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
				     "#9467bd", "#8c564b", "#e377c2", "#7f7f7f" };

static const char *extension(const plot_opts *o)
{
	if (!strcmp(o->format, "png") || !strcmp(o->format, "svg") || !strcmp(o->format, "pdf"))
		return o->format;
	cli_usage("--format %s: expected png, svg or pdf", o->format);
}

static char *path_in(const plot_job *j, const char *name)
{
	char *p = cli_malloc(strlen(j->dir) + strlen(name) + 2);
	sprintf(p, "%s/%s", j->dir, name);
	return p;
}

void gp_str(FILE *gp, const char *s)
{
	fputc('"', gp);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', gp);
		fputc(*s == '\n' ? ' ' : *s, gp);
	}
	fputc('"', gp);
}

FILE *job_data(plot_job *j, const char *name)
{
	char *p = path_in(j, name);
	FILE *fp = fopen(p, "w");
	if (!fp)
		cli_die("%s: cannot write: %s", p, strerror(errno));
	free(p);
	j->files = cli_realloc(j->files, (j->nfiles + 1) * sizeof *j->files);
	j->files[j->nfiles++] = cli_strdup(name);
	return fp;
}

void job_data_close(plot_job *j, FILE *fp)
{
	if (ferror(fp) | fclose(fp))
		cli_die("%s: write error: %s", j->dir, strerror(errno));
}

/* a job that dies (cli_die exits) still removes its temporary folder */
static plot_job *running;

static void remove_files(plot_job *j)
{
	for (int i = 0; i < j->nfiles; i++) {
		if (j->temp) {
			char *p = path_in(j, j->files[i]);
			unlink(p);
			free(p);
		}
		free(j->files[i]);
	}
	j->nfiles = 0;
	if (j->temp) {
		char *p = path_in(j, "figure.png");
		unlink(p);   /* gnuplot's output when it failed half-way */
		p[strlen(p) - 3] = 0;
		strcat(p, "svg");
		unlink(p);
		p[strlen(p) - 3] = 0;
		strcat(p, "pdf");
		unlink(p);
		free(p);
		rmdir(j->dir);
	}
}

static void remove_at_exit(void)
{
	if (running)
		remove_files(running);
}

void job_start(plot_job *j, const plot_opts *o, int w, int h)
{
	memset(j, 0, sizeof *j);
	j->o = o;
	w = o->width > 0 ? o->width : w;
	h = o->height > 0 ? o->height : h;
	if (o->script_dir) {
		if (mkdir(o->script_dir, 0777) && errno != EEXIST)
			cli_die("%s: cannot make the folder: %s", o->script_dir, strerror(errno));
		j->dir = cli_strdup(o->script_dir);
	} else {
		const char *tmp = getenv("TMPDIR");
		char tmpl[4096];
		snprintf(tmpl, sizeof tmpl, "%s/plot.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(tmpl))
			cli_die("%s: cannot make a temporary folder: %s", tmpl, strerror(errno));
		j->dir = cli_strdup(tmpl);
		j->temp = 1;
	}
	running = j;
	atexit(remove_at_exit);
	j->gp = job_data(j, "plot.gp");
	const char *ext = extension(o);
	if (!strcmp(ext, "png"))
		fprintf(j->gp, "set terminal pngcairo size %d,%d noenhanced font \"sans,10\"\n", w, h);
	else if (!strcmp(ext, "svg"))
		fprintf(j->gp, "set terminal svg size %d,%d noenhanced font \"sans,10\" background \"white\"\n", w, h);
	else
		fprintf(j->gp, "set terminal pdfcairo size %.2fin,%.2fin noenhanced font \"sans,8\"\n", w / 96.0, h / 96.0);
	fprintf(j->gp, "set output \"figure.%s\"\nset datafile separator \"\\t\"\n"
		"set encoding utf8\nset key noenhanced\nset grid lc rgb \"#dddddd\"\n", ext);
}

/* gnuplot in the job's folder, its stdout to our stderr; dies unless it exits 0 */
static void run_gnuplot(const plot_job *j)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		cli_die("cannot start gnuplot: %s", strerror(errno));
	if (pid == 0) {
		if (chdir(j->dir) || dup2(2, 1) < 0)
			_exit(127);
		execlp("gnuplot", "gnuplot", "plot.gp", (char *)NULL);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			cli_die("waiting for gnuplot: %s", strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		cli_die("cannot run gnuplot: not found (install the Debian package gnuplot-nox)");
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		cli_die("gnuplot failed on %s/plot.gp (status %d)", j->dir, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void copy_figure(const plot_job *j, const char *out)
{
	char name[32];
	snprintf(name, sizeof name, "figure.%s", j->o->format);
	char *p = path_in(j, name);
	FILE *in = fopen(p, "rb");
	if (!in)
		cli_die("%s: gnuplot wrote no figure: %s", p, strerror(errno));
	cli_out *o = cli_out_open(out);
	char buf[65536];
	size_t n, total = 0;
	while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
		total += n;
		if (fwrite(buf, 1, n, cli_out_fp(o)) != n)
			break;
	}
	fclose(in);
	if (!total)
		cli_die("%s: gnuplot wrote an empty figure", p);
	unlink(p);
	free(p);
	cli_out_close(o);
}

void job_finish(plot_job *j, const char *out)
{
	if (ferror(j->gp) | fclose(j->gp))
		cli_die("%s/plot.gp: write error: %s", j->dir, strerror(errno));
	if (j->o->script_dir)
		cli_info("wrote %s/plot.gp and its data: run (cd %s && gnuplot plot.gp)", j->dir, j->dir);
	else {
		run_gnuplot(j);
		copy_figure(j, out);
	}
	remove_files(j);
	running = NULL;
	free(j->files);
	free(j->dir);
}

int main(int argc, char **argv)
{
	plot_opts o = { "png", NULL, NULL, "wdist", NULL, NULL, NULL, NULL, NULL, "test", 0, 0, 0, 0 };
	cli_opt opts[] = {
		{ "format", 0, CLI_STR, &o.format, "FMT", "png (cairo), svg or pdf" },
		{ "script", 0, CLI_STR, &o.script_dir, "DIR", "write plot.gp and its data to DIR, do not run gnuplot" },
		{ "title", 0, CLI_STR, &o.title, "TEXT", "the figure's title (default: from the data)" },
		{ "tensor", 0, CLI_STR, &o.tensor, "NAME", "the distance tensor of layers/categories" },
		{ "names", 0, CLI_STR, &o.names, "A,B,...", "run names (default: metadata arch, else the file name)" },
		{ "split", 0, CLI_STR, &o.split, "SPLIT", "rows to draw: train, val, test or all" },
		{ "sample", 0, CLI_INT, &o.sample, "I", "sample: the row to draw" },
		{ "layers", 0, CLI_STR, &o.layers, "L,L,...", "sample/categories: layers whose distributions to draw (default first, middle, last)" },
		{ "example", 0, CLI_INT, &o.example, "E", "categories: which example of each category (0 = most typical)" },
		{ "prob", 0, CLI_STR, &o.prob_path, "FILE", "sample, categories: prob when FILE has none" },
		{ "images", 0, CLI_STR, &o.images_path, "FILE", "categories: a file with `images` [N,H,W(,3)] U8" },
		{ "dataset", 0, CLI_STR, &o.dataset, "SPEC", "categories: read the images from the data set (voc:, coco:, list:), matched by ids" },
		{ "width", 0, CLI_INT, &o.width, "PX", "width in pixels (default: by kind)" },
		{ "height", 0, CLI_INT, &o.height, "PX", "height in pixels (default: by kind)" },
		{ 0 }
	};
	cli_init(argc, argv, "plot");
	int arg = cli_parse(argc, argv, opts, usage, about);
	if (arg >= argc)
		cli_usage("no KIND given");
	extension(&o);
	if ((o.width && (o.width < 64 || o.width > 10000)) || (o.height && (o.height < 64 || o.height > 10000)))
		cli_usage("--width/--height: expected 64 to 10000 pixels");
	study_split_id(o.split);
	const char *kind = argv[arg];
	char **files = argv + arg + 1;
	int n = argc - arg - 1;
	if (n < 1)
		cli_usage("%s: give at least one input FILE", kind);
	if (n > 1 && strcmp(kind, "layers") && strcmp(kind, "overthinking"))
		cli_usage("%s: one input FILE", kind);
	if (n > 8)
		cli_usage("%s: at most 8 inputs", kind);
	plot_job j;
	if (!strcmp(kind, "layers"))
		fig_layers(&j, &o, files, n);
	else if (!strcmp(kind, "sample"))
		fig_sample(&j, &o, files, n);
	else if (!strcmp(kind, "epochs"))
		fig_epochs(&j, &o, files, n, 0);
	else if (!strcmp(kind, "adjacent"))
		fig_epochs(&j, &o, files, n, 1);
	else if (!strcmp(kind, "measures"))
		fig_measures(&j, &o, files, n);
	else if (!strcmp(kind, "overthinking"))
		fig_overthinking(&j, &o, files, n);
	else if (!strcmp(kind, "categories"))
		fig_categories(&j, &o, files, n);
	else
		cli_usage("unknown KIND '%s': expected layers, sample, epochs, adjacent, measures, overthinking or categories", kind);
	job_finish(&j, cli_opts.output);
	return 0;
}

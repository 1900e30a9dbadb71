/* gnuplot.c: the plot job of gnuplot.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cli.h"
#include "gnuplot.h"

const char *const plot_colors[8] = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
				     "#9467bd", "#8c564b", "#e377c2", "#7f7f7f" };

const char *gp_format(const gp_opts *o)
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

/* Single quotes: gnuplot substitutes backquotes (shell commands) and @macros
 * inside double-quoted strings, never inside single-quoted ones, where the
 * only escape is '' for a quote. A control character would end the command
 * (newline) or garble the text: it becomes a space. */
void gp_str(FILE *gp, const char *s)
{
	fputc('\'', gp);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\'')
			fputc('\'', gp);
		fputc(c < 0x20 || c == 0x7f ? ' ' : c, gp);
	}
	fputc('\'', gp);
}

void gp_datum(FILE *fp, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		fputc(c < 0x20 || c == 0x7f ? ' ' : c == '"' ? '\'' : c, fp);
	}
}

FILE *job_data(plot_job *j, const char *name)
{
	if (j->nfiles == JOB_MAX_FILES || strlen(name) >= JOB_NAME_LEN)
		cli_die("plot: too many data files or too long a name (%s)", name);
	/* recorded before it exists, so that a failure in between removes it */
	memcpy(j->files[j->nfiles], name, strlen(name) + 1);
	j->nfiles++;
	char *p = path_in(j, name);
	FILE *fp = fopen(p, "w");
	if (!fp)
		cli_die("%s: cannot write: %s", p, strerror(errno));
	free(p);
	return fp;
}

void job_data_close(plot_job *j, FILE *fp)
{
	if (ferror(fp) | fclose(fp))
		cli_die("%s: write error: %s", j->dir, strerror(errno));
}

/* The job whose temporary folder a failing run removes (cli_on_failure):
 * through unlinkat on the folder's descriptor, which is async-signal-safe,
 * so an interrupt cleans up too. */
static plot_job *running;

static void remove_temp_folder(void)
{
	static const char *const figures[] = { "figure.png", "figure.svg", "figure.pdf" };
	plot_job *j = running;
	if (!j || !j->temp)
		return;
	for (int i = 0; i < j->nfiles; i++)
		unlinkat(j->dirfd, j->files[i], 0);
	for (int i = 0; i < 3; i++)   /* gnuplot's output when it failed half-way */
		unlinkat(j->dirfd, figures[i], 0);
	rmdir(j->dir);
}

void job_start(plot_job *j, const gp_opts *o, int w, int h)
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
	j->dirfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd < 0)
		cli_die("%s: cannot open the folder: %s", j->dir, strerror(errno));
	running = j;
	cli_on_failure(remove_temp_folder);
	j->gp = job_data(j, "plot.gp");
	const char *ext = gp_format(o);
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
	remove_temp_folder();
	running = NULL;
	close(j->dirfd);
	free(j->dir);
}


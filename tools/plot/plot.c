/* plot: the study's figures through gnuplot (docs/plot.md). This file is the
 * front end: the options, and the kind looked up in figures.c's table. */
#include <string.h>
#include "cli.h"
#include "plot.h"
#include "study.h"

static const char *usage = "plot KIND [options] FILE...";
static const char *about =
	"Draws one figure of the study with gnuplot (gnuplot-nox). KIND and its inputs:\n"
	"  layers FILE...      mean distance per layer with the interquartile band, one\n"
	"                      curve per FILE (paper fig. 3; e.g. ResNet and VGG overlaid)\n"
	"  sample FILE         one sample's label distribution p/sum(p) at --layers beside\n"
	"                      its target y/sum(y) (fig. 4); FILE holds labels (and wdist,\n"
	"                      shown in the legend), prob from FILE or --prob\n"
	"  epochs FILE         distance to the target per layer at every checkpoint of the\n"
	"                      backbone's training, mean and interquartile band of\n"
	"                      wdist_train against metadata checkpoint_epochs (fig. 6); a\n"
	"                      file without wdist_train: as probe-epochs\n"
	"  adjacent FILE       W between the distributions of consecutive checkpoints per\n"
	"                      layer, wdist_train_adjacent (fig. 15); else as probe-adjacent\n"
	"  probe-epochs FILE   probe convergence: distance per snapshot epoch of the probes'\n"
	"                      training (train-probe --snapshots), wdist_epochs\n"
	"  probe-adjacent FILE probe convergence: total variation (W under the 0-1 cost)\n"
	"                      between adjacent snapshots of prob_epochs\n"
	"  sample-epochs FILE  one sample's label distribution at --checkpoints (default four\n"
	"                      spread over the epochs) beside its target, at one layer\n"
	"                      (--layers, default the last) (fig. 16); prob_train from FILE\n"
	"                      or --prob, W from FILE's wdist_train in the legend\n"
	"  bn-drift FILE...    bn-drift outputs: W2 per stage (the layers of a stage joined)\n"
	"                      against the epoch, log scale; a row of panels per FILE\n"
	"  resplit FILE...     re-split trials of one backbone: each FILE's mean distance per\n"
	"                      layer and the range over them (fig. 9)\n"
	"  measures FILE       wdist beside cheb, jsd (and kl, tv when present) per layer,\n"
	"                      one panel each (figs. 11-12)\n"
	"  overthinking FILE...  early-exit outputs: share of the last layer's errors right\n"
	"                      at each layer, and first right there (tables 2-3), one panel each\n"
	"  categories FILE     a classify-samples output: for an easy, a hard and a confused\n"
	"                      example, the image, its distributions and its distance profile\n"
	"                      (figs. 5, 17); prob from FILE or --prob, the image from an\n"
	"                      `images` tensor (FILE or --images) or --dataset SPEC by `ids`\n"
	"  frontier FILE...    early-exit outputs: subset accuracy against relative cost of\n"
	"                      every rule (tune split), the tune Pareto front and the same\n"
	"                      rules on the eval split, the head, the oracle and the chosen\n"
	"                      rule; one panel per FILE\n"
	"Rows: --split (test by default; every row when there is no split tensor).";

static void options_default(plot_opts *o)
{
	*o = (plot_opts){ .gp = { .format = "png" }, .tensor = "wdist", .split = "test" };
}

int main(int argc, char **argv)
{
	plot_opts o;
	options_default(&o);
	cli_opt opts[] = {
		{ "format", 0, CLI_STR, &o.gp.format, "FMT", "png (cairo), svg or pdf" },
		{ "script", 0, CLI_STR, &o.gp.script_dir, "DIR", "write plot.gp and its data to DIR, do not run gnuplot" },
		{ "title", 0, CLI_STR, &o.title, "TEXT", "the figure's title (default: from the data)" },
		{ "tensor", 0, CLI_STR, &o.tensor, "NAME", "the distance tensor of layers/categories" },
		{ "names", 0, CLI_STR, &o.names, "A,B,...", "run names (default: metadata arch, else the file name)" },
		{ "split", 0, CLI_STR, &o.split, "SPLIT", "rows to draw: train, val, test or all" },
		{ "sample", 0, CLI_INT, &o.sample, "I", "sample: the row to draw" },
		{ "layers", 0, CLI_STR, &o.layers, "L,L,...", "sample/categories: layers whose distributions to draw (default first, middle, last)" },
		{ "example", 0, CLI_INT, &o.example, "E", "categories: which example of each category (0 = most typical)" },
		{ "checkpoints", 0, CLI_STR, &o.checkpoints, "I,I,...", "sample-epochs: checkpoints to draw, by index (default 4 spread over the epochs)" },
		{ "prob", 0, CLI_STR, &o.prob_path, "FILE", "sample, categories: prob when FILE has none; sample-epochs: prob_train" },
		{ "images", 0, CLI_STR, &o.images_path, "FILE", "categories: a file with `images` [N,H,W(,3)] U8" },
		{ "dataset", 0, CLI_STR, &o.dataset, "SPEC", "categories: read the images from the data set (voc:, coco:, list:), matched by ids" },
		{ "width", 0, CLI_INT, &o.gp.width, "PX", "width in pixels (default: by kind)" },
		{ "height", 0, CLI_INT, &o.gp.height, "PX", "height in pixels (default: by kind)" },
		{ 0 }
	};
	cli_init(argc, argv, "plot");
	cli_text_output = 1;   /* checked below: --script writes no -o */
	int arg = cli_parse(argc, argv, opts, usage, about);
	if (!o.gp.script_dir)
		cli_out_check(cli_opts.output, 1);
	if (arg >= argc)
		cli_usage("no KIND given");
	gp_format(&o.gp);
	if ((o.gp.width && (o.gp.width < 64 || o.gp.width > 10000)) || (o.gp.height && (o.gp.height < 64 || o.gp.height > 10000)))
		cli_usage("--width/--height: expected 64 to 10000 pixels");
	study_split_id(o.split);
	const char *kind = argv[arg];
	char **files = argv + arg + 1;
	int n = argc - arg - 1;
	const figure *f = NULL;
	for (int i = 0; i < nfigures && !f; i++)
		if (!strcmp(kind, figures[i].kind))
			f = &figures[i];
	if (n < 1)
		cli_usage("%s: give at least one input FILE", kind);
	if (!f)
		cli_usage("unknown KIND '%s': expected layers, sample, epochs, adjacent, probe-epochs, probe-adjacent, "
			  "measures, overthinking, categories, frontier, sample-epochs, bn-drift or resplit", kind);
	if (n > f->max_inputs)
		cli_usage("%s: %s", kind, f->max_inputs == 1 ? "one input FILE" : "at most 8 inputs");
	plot_job j;
	f->draw(&j, &o, files, n);
	job_finish(&j, cli_opts.output);
	return 0;
}

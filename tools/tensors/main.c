/* tensors: look into, cut and join safetensors files; NumPy interop. */
#include "cli.h"
#include "names.h"
#include "npy.h"
#include "pth.h"
#include "shard.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const char *about =
	"Commands:\n"
	"  info [FILE]                 names, dtypes, shapes, sizes and metadata\n"
	"  dump NAME [FILE]            a tensor as TSV, one row per leading index (--rows A:B)\n"
	"  pick NAME... [-i FILE]      keep only these tensors (streams; metadata kept)\n"
	"  drop NAME... [-i FILE]      remove these tensors (streams; metadata kept)\n"
	"  merge FILE...               union of the tensors of several files (a name twice is an error)\n"
	"  cat FILE...                 join shards along axis 0; other dims, dtypes and metadata must agree\n"
	"                              (metadata `ids` lists are joined, `history` is taken from the first,\n"
	"                              keys given with --meta are not compared); files with metadata\n"
	"                              `shard` (--shard I/N of extract-feats, sinkhorn, classify-samples)\n"
	"                              must be shards 0..N-1 in order, and the join drops the key; a tensor\n"
	"                              named in metadata `shard_axis` ({\"wdist\":1}) is joined along that axis\n"
	"  stack NAME FILE...          tensor NAME of every FILE along a new first axis (renamed with --as),\n"
	"                              e.g. prob [L,N,K] of T checkpoints -> prob_train [T,L,N,K]; the context\n"
	"                              (labels, ignore, split, index) and metadata must agree and are kept\n"
	"                              once (keys given with --meta are not compared), other tensors dropped\n"
	"  from-npy NAME=FILE.npy ...  a safetensors file from NumPy .npy arrays (labels, ignore, split of\n"
	"                              integers become U8, index I64, feat.NN and logits of float64 F32)\n"
	"  to-npy NAME [FILE]          one tensor as a NumPy .npy array (BF16 is widened to float32)\n"
	"  from-pth IN.pth             the state dict of a PyTorch checkpoint (torch.save), read without\n"
	"                              Python: every tensor contiguous, in its own dtype (docs/models.md);\n"
	"                              --key NAME picks a checkpoint dict's entry, --strip-prefix P\n"
	"                              removes P from the names (default: 'module.' when all have it)\n"
	"  meta FILE                   the metadata; with --set KEY=VALUE, FILE's metadata edited in\n"
	"                              place (-o OUT: written to OUT instead; FILE '-': to standard output)\n"
	"\n"
	"FILE '-' or absent means standard input; -o FILE (default '-') the output.\n"
	"Examples:\n"
	"  tensors info feats.safetensors\n"
	"  tensors pick prob labels < run.safetensors | tensors dump prob --rows 0:2\n"
	"  tensors cat shard0.st shard1.st -o all.st\n"
	"  tensors stack prob e1.st e2.st e3.st --as prob_train --meta 'checkpoint_epochs=[1,2,3]' -o t.st\n"
	"  tensors from-pth resnet50.pth --meta arch=resnet50 -o resnet50.st\n"
	"  tensors meta resnet50.st --set 'labels=[\"cat\",\"dog\"]'";

typedef struct {
	const char *rows;    /* dump: NULL = all rows */
	const char *input;   /* pick, drop: "-" */
	const char *as;      /* stack: the stacked tensor's name; NULL = NAME */
	cli_list meta;       /* --meta KEY=VALUE, in order */
	cli_list set;        /* meta: --set KEY=VALUE, in order */
	const char *key;     /* from-pth: the checkpoint's entry; NULL: found */
	const char *strip;   /* from-pth: the prefix to remove; NULL: 'module.' when every name has it */
} options;

static options o = { .input = "-" };

/* KEY of a --meta KEY=VALUE (allocated), checked */
static char *meta_key(const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv) cli_usage("--meta '%s': expected KEY=VALUE", kv);
	char *key = cli_strdup(kv);
	key[eq - kv] = 0;
	return key;
}

static int meta_given(const char *key)
{
	int found = 0;
	for (int i = 0; i < o.meta.n && !found; i++) {
		char *k = meta_key(o.meta.v[i]);
		found = strcmp(k, key) == 0;
		free(k);
	}
	return found;
}

/* KEY=VALUE entries into out's metadata, in order */
static void set_meta(st_file *out, const cli_list *kv)
{
	for (int i = 0; i < kv->n; i++) {
		char *key = meta_key(kv->v[i]);
		st_meta_set(out, key, kv->v[i] + strlen(key) + 1);
		free(key);
	}
}

/* --meta entries override what the inputs had */
static void apply_meta(st_file *out)
{
	set_meta(out, &o.meta);
}


/* ---- info ---- */

static void human_size(char *buf, size_t n, uint64_t b)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)b;
	int u = 0;
	while (v >= 1024 && u < 4) { v /= 1024; u++; }
	if (u == 0) snprintf(buf, n, "%" PRIu64 " B", b);
	else snprintf(buf, n, "%.1f %s", v, units[u]);
}

static void print_info(FILE *out, const st_file *f, const char *name)
{
	uint64_t total = 0;
	for (int i = 0; i < f->n; i++) total += st_nbytes(&f->t[i]);
	char sz[32];
	human_size(sz, sizeof sz, total);
	fprintf(out, "file\t%s\ntensors\t%d\ndata\t%" PRIu64 " bytes (%s)\n", name, f->n, total, sz);
	fprintf(out, "\n%-24s %-5s %-22s %14s  %s\n", "name", "dtype", "shape", "bytes", "offsets");
	for (int i = 0; i < f->n; i++) {
		const st_tensor *t = &f->t[i];
		char sh[160];
		st_shape_str(sh, sizeof sh, t->ndim, t->shape);
		fprintf(out, "%-24s %-5s %-22s %14" PRIu64 "  [%" PRIu64 ", %" PRIu64 ")\n", t->name, st_dtype_name(t->dtype), sh,
			st_nbytes(t), t->begin, t->end);
	}
	if (f->nmeta) fprintf(out, "\nmetadata (%d keys)\n", f->nmeta);
	for (int i = 0; i < f->nmeta; i++) {
		const char *v = f->meta[i].value;
		size_t len = strlen(v);
		if (len > 200) fprintf(out, "  %s: %.160s... (%zu characters)\n", f->meta[i].key, v, len);
		else fprintf(out, "  %s: %s\n", f->meta[i].key, v);
	}
}

/* Reads the header and runs through the data, so truncation is still caught. */
static int cmd_info(int argc, char **argv)
{
	const char *path = argc > 0 ? argv[0] : "-", *name = cli_name(path);
	if (argc > 1) cli_usage("info takes one FILE");
	char err[ERR_LEN];
	FILE *fp = cli_open_in(path);
	st_reader *r = st_open_fp(fp, fp != stdin, err);
	if (!r) cli_die("%s: %s", name, err);
	st_file *f = st_reader_file(r);
	for (int i = 0; i < f->n; i++)
		if (st_skip_data(r, &f->t[i], err)) cli_die("%s: %s", name, err);
	if (st_check_end(r, err)) cli_die("%s: %s", name, err);
	cli_out *o = cli_out_open_text(cli_opts.output);
	print_info(cli_out_fp(o), f, name);
	cli_out_close(o);
	st_abort(r);
	return 0;
}

/* ---- dump ---- */

static void print_value(FILE *out, const st_tensor *t, size_t i)
{
	const void *d = t->data;
	switch (t->dtype) {
	case ST_F64: fprintf(out, "%.17g", ((const double *)d)[i]); break;
	case ST_F32: fprintf(out, "%.9g", (double)((const float *)d)[i]); break;
	case ST_F16: fprintf(out, "%.5g", (double)st_half_to_f32(((const uint16_t *)d)[i])); break;
	case ST_BF16: fprintf(out, "%.4g", (double)st_bf16_to_f32(((const uint16_t *)d)[i])); break;
	case ST_I64: fprintf(out, "%" PRId64, ((const int64_t *)d)[i]); break;
	case ST_I32: fprintf(out, "%" PRId32, ((const int32_t *)d)[i]); break;
	case ST_I16: fprintf(out, "%d", ((const int16_t *)d)[i]); break;
	case ST_I8: fprintf(out, "%d", ((const int8_t *)d)[i]); break;
	case ST_U8: case ST_BOOL: fprintf(out, "%u", ((const uint8_t *)d)[i]); break;
	default: break;
	}
}

static void parse_rows(const char *s, int64_t nrows, int64_t *a, int64_t *b)
{
	*a = 0;
	*b = nrows;
	if (!s) return;
	char *end;
	const char *colon = strchr(s, ':');
	if (!colon) cli_usage("--rows '%s': expected A:B", s);
	if (colon != s) { *a = strtoll(s, &end, 10); if (end != colon) cli_usage("--rows '%s': A is not an integer", s); }
	if (colon[1]) { *b = strtoll(colon + 1, &end, 10); if (*end) cli_usage("--rows '%s': B is not an integer", s); }
	if (*a < 0) *a += nrows;
	if (*b < 0) *b += nrows;
	if (*a < 0 || *b > nrows || *a > *b)
		cli_usage("--rows %s: out of range for %" PRId64 " rows", s, nrows);
}

static int keep_one(const char *name, void *ctx) { return strcmp(name, ctx) == 0; }

static int cmd_dump(int argc, char **argv)
{
	if (argc < 1 || argc > 2) cli_usage("dump takes NAME [FILE]");
	const char *name = argv[0], *path = argc > 1 ? argv[1] : "-";
	st_file *f = cli_load_some(path, keep_one, (void *)name);
	st_tensor *t = cli_get(f, path, name);
	int64_t nrows = t->ndim ? t->shape[0] : 1, a, b;
	int64_t per = nrows ? st_numel(t) / nrows : 0;
	parse_rows(o.rows, nrows, &a, &b);
	cli_out *o = cli_out_open_text(cli_opts.output);
	FILE *out = cli_out_fp(o);
	for (int64_t r = a; r < b; r++) {
		for (int64_t j = 0; j < per; j++) {
			if (j) fputc('\t', out);
			print_value(out, t, (size_t)(r * per + j));
		}
		fputc('\n', out);
	}
	cli_out_close(o);
	st_file_free(f);
	return 0;
}

/* ---- pick / drop: streamed, never holding a whole tensor ---- */

static int listed(const char *name, char **names, int n)
{
	for (int i = 0; i < n; i++) if (strcmp(names[i], name) == 0) return 1;
	return 0;
}

/* The output of a streaming command (pick, drop, cat): out's header, with this
 * run's history, written; the tensors' bytes follow in out's order. */
static cli_out *open_streamed_output(st_file *out)
{
	cli_history_append(out);
	size_t hlen;
	char *json = st_header_json(out, &hlen);
	cli_out *o = cli_out_open(cli_opts.output);
	FILE *w = cli_out_fp(o);
	unsigned char lenbuf[8];
	for (int i = 0; i < 8; i++) lenbuf[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
	if (fwrite(lenbuf, 1, 8, w) != 8 || fwrite(json, 1, hlen, w) != hlen)
		cli_die("%s: write error: %s", cli_opts.output && strcmp(cli_opts.output, "-") ? cli_opts.output : "standard output",
			strerror(errno));
	free(json);
	return o;
}

static int cmd_select(int argc, char **argv, int keep)
{
	if (argc < 1) cli_usage("%s takes at least one NAME", keep ? "pick" : "drop");
	char err[ERR_LEN];
	FILE *fp = cli_open_in(o.input);
	const char *shown = cli_name(o.input);
	st_reader *r = st_open_fp(fp, fp != stdin, err);
	if (!r) cli_die("%s: %s", shown, err);
	st_file *in = st_reader_file(r), *out = st_file_new();
	for (int i = 0; i < argc; i++)
		if (!st_find(in, argv[i])) cli_die("%s: missing tensor '%s'", shown, argv[i]);
	for (int i = 0; i < in->n; i++)
		if (listed(in->t[i].name, argv, argc) == keep) st_add(out, in->t[i].name, in->t[i].dtype, in->t[i].ndim, in->t[i].shape, NULL, 1);
	st_meta_copy(out, in);
	apply_meta(out);
	cli_out *o = open_streamed_output(out);
	FILE *w = cli_out_fp(o);
	for (int i = 0; i < in->n; i++) {
		int rc = listed(in->t[i].name, argv, argc) == keep ? st_copy_data(r, &in->t[i], w, err) : st_skip_data(r, &in->t[i], err);
		if (rc) cli_die("%s: %s", shown, err);
	}
	if (st_close(r, err)) cli_die("%s: %s", shown, err);
	cli_out_close(o);
	st_file_free(out);
	return 0;
}

/* ---- merge / cat ---- */

static st_file **load_all(int argc, char **argv)
{
	if (argc < 1) cli_usage("give at least one FILE");
	int stdin_uses = 0;
	for (int i = 0; i < argc; i++) stdin_uses += strcmp(argv[i], "-") == 0;
	if (stdin_uses > 1) cli_usage("standard input ('-') can be given once");
	st_file **fs = cli_calloc((size_t)argc, sizeof *fs);
	for (int i = 0; i < argc; i++) fs[i] = cli_load(argv[i]);
	return fs;
}

static void free_all(st_file **fs, int n)
{
	for (int i = 0; i < n; i++) st_file_free(fs[i]);
	free(fs);
}

static int cmd_merge(int argc, char **argv)
{
	st_file **fs = load_all(argc, argv), *out = st_file_new();
	for (int i = 0; i < argc; i++) {
		for (int k = 0; k < fs[i]->n; k++) {
			st_tensor *t = &fs[i]->t[k];
			if (st_find(out, t->name)) cli_die("%s: tensor '%s' is also in an earlier file", argv[i], t->name);
			st_add(out, t->name, t->dtype, t->ndim, t->shape, t->data, 1);
			t->data = NULL;   /* moved */
		}
		for (int k = 0; k < fs[i]->nmeta; k++)   /* the first file's value of a key wins */
			if (!st_meta_get(out, fs[i]->meta[k].key)) st_meta_set(out, fs[i]->meta[k].key, fs[i]->meta[k].value);
	}
	apply_meta(out);
	cli_write(out, cli_opts.output);
	free_all(fs, argc);
	st_file_free(out);
	return 0;
}

/* every key but history and the --meta ones; ids and shard too when the files
 * are shards (per_shard: cat), where those differ from file to file (their
 * shard_axis must agree) */
static void check_same_metadata(st_file **fs, char **argv, int argc, int per_shard)
{
	for (int i = 1; i < argc; i++) {
		const st_file *a = fs[0], *b = fs[i];
		for (int k = 0; k < a->nmeta + b->nmeta; k++) {
			const char *key = k < a->nmeta ? a->meta[k].key : b->meta[k - a->nmeta].key;
			if ((per_shard && (!strcmp(key, "ids") || !strcmp(key, "shard"))) || !strcmp(key, "history") ||
			    meta_given(key)) continue;
			const char *va = st_meta_get(a, key), *vb = st_meta_get(b, key);
			if (!va || !vb || strcmp(va, vb))
				cli_die("%s: metadata '%s' differs from %s's", argv[i], key, argv[0]);
		}
	}
}

static void check_shard(const st_tensor *t0, const st_tensor *t, int axis, const char *file)
{
	if (!t) cli_die("%s: missing tensor '%s' (present in the first file)", file, t0->name);
	if (t->dtype != t0->dtype) cli_die("%s: tensor '%s' is %s, %s in the first file", file, t->name, st_dtype_name(t->dtype), st_dtype_name(t0->dtype));
	int same = t->ndim == t0->ndim && t->ndim > axis;
	for (int d = 0; same && d < t->ndim; d++) same = d == axis || t->shape[d] == t0->shape[d];
	if (!same) cli_die("%s: tensor '%s' cannot be joined along axis %d: its other dimensions differ from the first file's (or it has too few)", file, t->name, axis);
}

static void join_ids(st_file *out, st_file **fs, int argc)
{
	if (!st_meta_get(fs[0], "ids")) return;
	char **all = NULL;
	int total = 0;
	for (int i = 0; i < argc; i++) {
		int n = 0;
		char **ids = st_meta_get_list(fs[i], "ids", &n);
		if (!ids) cli_die("file %d: metadata 'ids' is missing or not a JSON list of strings", i + 1);
		all = cli_realloc(all, sizeof *all * (size_t)(total + n));
		if (n) memcpy(all + total, ids, sizeof *ids * (size_t)n);
		total += n;
		free(ids);   /* the strings now belong to all */
	}
	st_meta_set_list(out, "ids", all, total);
	st_list_free(all, total);
}

/* Shards written by extract-feats --shard carry metadata `shard` = "I/N". When
 * any input has it, the inputs must be shards 0..N-1 of one N, in order, each
 * once: a missing, repeated or misplaced shard would give a join that looks whole
 * but is not. --meta shard=... turns the check off (a partial join, say). */
static void check_shard_set(st_file **fs, char **argv, int argc)
{
	int first = -1;
	for (int i = 0; i < argc && first < 0; i++)
		if (st_meta_get(fs[i], "shard")) first = i;
	if (first < 0 || meta_given("shard")) return;
	const char *v0 = st_meta_get(fs[first], "shard");
	shard_spec s0 = { 0, 0 };
	for (int i = 0; i < argc; i++) {
		const char *v = st_meta_get(fs[i], "shard");
		char err[ERR_LEN];
		shard_spec s;
		if (!v)
			cli_die("%s: no metadata 'shard', while %s is shard %s: a whole file does not join with shards",
				cli_name(argv[i]), cli_name(argv[first]), err_esc(v0));
		if (shard_parse(v, &s, err)) cli_die("%s: metadata 'shard' %s", cli_name(argv[i]), err);
		if (!i) s0 = s;
		if (s.n != s0.n)
			cli_die("%s: shard %s is one of %" PRId64 ", %s one of %" PRId64 ": shards of different splits",
				cli_name(argv[i]), v, s.n, cli_name(argv[0]), s0.n);
		if (s.i > i)
			cli_die("shard %d/%" PRId64 " is missing: file %d, %s, is shard %s (give shards 0 to N-1, in order, each once)",
				i, s0.n, i + 1, cli_name(argv[i]), v);
		if (s.i < i)
			cli_die("%s: shard %s again or out of order: file %d should be shard %d/%" PRId64
				" (give shards 0 to N-1, in order, each once)", cli_name(argv[i]), v, i + 1, i, s0.n);
	}
	if (argc + 1 == s0.n)
		cli_die("shard %d/%" PRId64 " is missing: %d of %" PRId64 " shards given (give shards 0 to N-1, in order)",
			argc, s0.n, argc, s0.n);
	if (argc < s0.n)
		cli_die("shards %d/%" PRId64 " to %" PRId64 "/%" PRId64 " are missing: %d of %" PRId64
			" shards given (give shards 0 to N-1, in order)", argc, s0.n, s0.n - 1, s0.n, argc, s0.n);
}

/* The inputs' headers; the data stay in the files, to be copied shard by
 * shard. Standard input, which cannot seek, is read whole at once. */
static st_reader **open_shards(int argc, char **argv, st_file ***fs)
{
	if (argc < 1) cli_usage("give at least one FILE");
	int stdin_uses = 0;
	for (int i = 0; i < argc; i++) stdin_uses += strcmp(argv[i], "-") == 0;
	if (stdin_uses > 1) cli_usage("standard input ('-') can be given once");
	st_reader **rs = cli_calloc((size_t)argc, sizeof *rs);
	*fs = cli_calloc((size_t)argc, sizeof **fs);
	struct rlimit nf;   /* every shard stays open: as many descriptors as allowed */
	if (getrlimit(RLIMIT_NOFILE, &nf) == 0 && nf.rlim_cur < (rlim_t)argc + 64) {
		nf.rlim_cur = nf.rlim_max < (rlim_t)argc + 64 ? nf.rlim_max : (rlim_t)argc + 64;
		setrlimit(RLIMIT_NOFILE, &nf);
	}
	char err[ERR_LEN];
	for (int i = 0; i < argc; i++) {
		FILE *fp = cli_open_in(argv[i]);
		if (!(rs[i] = st_open_fp(fp, fp != stdin, err))) cli_die("%s: %s", cli_name(argv[i]), err);
		(*fs)[i] = st_reader_file(rs[i]);
		if (fp != stdin) continue;
		for (int k = 0; k < (*fs)[i]->n; k++)
			if (st_read_data(rs[i], &(*fs)[i]->t[k], err)) cli_die("%s: %s", cli_name(argv[i]), err);
		if (st_check_end(rs[i], err)) cli_die("%s: %s", cli_name(argv[i]), err);
	}
	return rs;
}

static void die_write_error(void)
{
	cli_die("%s: write error: %s", strcmp(cli_opts.output, "-") ? cli_opts.output : "standard output", strerror(errno));
}

/* A tensor joined along axis > 0 (metadata shard_axis: sinkhorn's wdist
 * [L,S]): each shard's rows of every outer index in turn. The shards of this
 * one tensor are read whole: as large as the joined tensor alone. */
static void write_along(const char *name, int axis, st_file **fs, st_reader **rs, int argc, char **argv, FILE *w)
{
	char err[ERR_LEN];
	st_tensor **ts = cli_calloc((size_t)argc, sizeof *ts);
	char *loaded = cli_calloc((size_t)argc, 1);
	for (int i = 0; i < argc; i++) {
		ts[i] = st_find(fs[i], name);
		loaded[i] = !ts[i]->data;
		if (loaded[i] && (st_seek_data(rs[i], ts[i], err) || st_read_data(rs[i], ts[i], err)))
			cli_die("%s: %s", cli_name(argv[i]), err);
	}
	uint64_t outer = 1, inner = st_dtype_size(ts[0]->dtype);
	for (int d = 0; d < axis; d++) outer *= (uint64_t)ts[0]->shape[d];
	for (int d = axis + 1; d < ts[0]->ndim; d++) inner *= (uint64_t)ts[0]->shape[d];
	for (uint64_t q = 0; q < outer; q++)
		for (int i = 0; i < argc; i++) {
			uint64_t block = (uint64_t)ts[i]->shape[axis] * inner;
			if (block && fwrite((const char *)ts[i]->data + q * block, 1, block, w) != block) die_write_error();
		}
	for (int i = 0; i < argc; i++)
		if (loaded[i]) {
			free(ts[i]->data);   /* read here, not kept: the next tensor needs the room */
			ts[i]->data = NULL;
		}
	free(ts);
	free(loaded);
}

/* Streams: the output's header from the inputs' headers, then each tensor's
 * shards copied in turn (1 MB at a time), so memory does not grow with the
 * files' sizes. */
static int cmd_cat(int argc, char **argv)
{
	st_file **fs, *out = st_file_new();
	st_reader **rs = open_shards(argc, argv, &fs);
	check_same_metadata(fs, argv, argc, 1);
	check_shard_set(fs, argv, argc);
	char err[ERR_LEN];
	/* out->t[k] is the join of fs[0]->t[k] (st_add appends): axes[k] is its axis */
	int *axes = cli_calloc((size_t)fs[0]->n + 1, sizeof *axes);
	for (int k = 0; k < fs[0]->n; k++) {
		const st_tensor *t0 = &fs[0]->t[k];
		int64_t shape[ST_MAX_DIMS];
		memcpy(shape, t0->shape, sizeof shape);
		if (shard_axis_of(fs[0], t0->name, &axes[k], err)) cli_die("%s: %s", cli_name(argv[0]), err);
		int a = axes[k];
		for (int i = 0; i < argc; i++) {
			const st_tensor *t = st_find(fs[i], t0->name);
			check_shard(t0, t, a, argv[i]);
			if (i && shape[a] > INT64_MAX - t->shape[a]) cli_die("tensor '%s': the joined shape overflows", t0->name);
			if (i) shape[a] += t->shape[a];
		}
		st_tensor *joined = st_add(out, t0->name, t0->dtype, t0->ndim, shape, NULL, 0);
		if (st_nbytes(joined) == UINT64_MAX) cli_die("tensor '%s': the joined shape overflows", t0->name);
	}
	for (int i = 1; i < argc; i++)
		if (fs[i]->n != fs[0]->n) cli_die("%s: has %d tensors, the first file %d", argv[i], fs[i]->n, fs[0]->n);
	st_meta_copy(out, fs[0]);
	/* the join of every shard is the whole; a partial one (--meta shard=) is still a shard */
	st_meta_del(out, "shard");
	if (!meta_given("shard")) st_meta_del(out, "shard_axis");
	join_ids(out, fs, argc);
	apply_meta(out);
	cli_out *o = open_streamed_output(out);
	FILE *w = cli_out_fp(o);
	for (int k = 0; k < out->n; k++) {
		if (axes[k]) write_along(out->t[k].name, axes[k], fs, rs, argc, argv, w);
		else for (int i = 0; i < argc; i++) {
			st_tensor *t = st_find(fs[i], out->t[k].name);
			uint64_t nb = st_nbytes(t);
			if (t->data ? fwrite(t->data, 1, nb, w) != nb : st_seek_data(rs[i], t, err) || st_copy_data(rs[i], t, w, err)) {
				if (ferror(w)) die_write_error();
				cli_die("%s: %s", cli_name(argv[i]), err);
			}
		}
	}
	cli_out_close(o);
	for (int i = 0; i < argc; i++) st_abort(rs[i]);
	free(axes);
	free(rs);
	free(fs);
	st_file_free(out);
	return 0;
}

/* ---- stack ---- */

static int same_tensor(const st_tensor *a, const st_tensor *b)
{
	if (a->dtype != b->dtype || a->ndim != b->ndim)
		return 0;
	for (int d = 0; d < a->ndim; d++)
		if (a->shape[d] != b->shape[d])
			return 0;
	return 1;
}

/* The samples must be the same in every file: context tensors equal, bit for bit. */
static void check_context(st_file **fs, char **files, int n)
{
	for (int c = 0; c < CTX_N; c++) {
		const st_tensor *t0 = st_find(fs[0], context_names[c]);
		for (int i = 1; i < n; i++) {
			const st_tensor *t = st_find(fs[i], context_names[c]);
			if (!t0 != !t)
				cli_die("%s: tensor '%s' is %s, %s in %s", files[i], context_names[c], t ? "present" : "missing",
					t ? "missing" : "present", files[0]);
			if (t && (!same_tensor(t0, t) || memcmp(t0->data, t->data, st_nbytes(t))))
				cli_die("%s: tensor '%s' differs from %s's: stacked files must hold the same samples",
					files[i], t->name, files[0]);
		}
	}
}

static int cmd_stack(int argc, char **argv)
{
	if (argc < 2) cli_usage("stack takes NAME FILE...");
	const char *name = argv[0], *as = o.as ? o.as : name;
	char **files = argv + 1;
	int n = argc - 1;
	if (!*as) cli_usage("--as: empty name");
	st_file **fs = load_all(n, files), *out = st_file_new();
	const st_tensor *t0 = cli_get(fs[0], cli_name(files[0]), name);
	if (t0->ndim >= ST_MAX_DIMS)
		cli_die("%s: tensor '%s' has %d dims, stacking allows at most %d", cli_name(files[0]), name, t0->ndim,
			ST_MAX_DIMS - 1);
	for (int i = 1; i < n; i++) {
		const st_tensor *t = cli_get(fs[i], cli_name(files[i]), name);
		if (!same_tensor(t0, t)) {
			char a[160], b[160];
			st_shape_str(a, sizeof a, t->ndim, t->shape);
			st_shape_str(b, sizeof b, t0->ndim, t0->shape);
			cli_die("%s: tensor '%s' is %s %s, %s %s in %s: stacked tensors must have one dtype and shape",
				cli_name(files[i]), name, st_dtype_name(t->dtype), a, st_dtype_name(t0->dtype), b,
				cli_name(files[0]));
		}
	}
	check_context(fs, files, n);
	check_same_metadata(fs, files, n, 0);
	int64_t shape[ST_MAX_DIMS] = {n};
	memcpy(shape + 1, t0->shape, sizeof *shape * (size_t)t0->ndim);
	size_t each = st_nbytes(t0);
	char *data = cli_malloc(cli_mul(each, (size_t)n, "stack") + 1);
	for (int i = 0; i < n; i++)
		memcpy(data + each * (size_t)i, st_find(fs[i], name)->data, each);
	cli_forward_context(out, fs[0]);
	if (st_find(out, as))
		cli_usage("stack: '%s' is the name of a context tensor: give another with --as", as);
	st_add(out, as, t0->dtype, t0->ndim + 1, shape, data, 1);
	apply_meta(out);
	cli_write(out, cli_opts.output);
	free_all(fs, n);
	st_file_free(out);
	return 0;
}

/* ---- NumPy ---- */


/* NumPy's defaults (int64, float64) to the dtypes the pipeline's names
 * have (contract section 4), with a note: labels, ignore, split U8 (values
 * checked), index I64, feat.NN and logits F32. */
static void conform(st_file *f, const char *name, const char *path)
{
	st_tensor *t = st_find(f, name);
	int ctx = names_find(context_names, CTX_N, name);
	int is_float = !strncmp(name, "feat.", 5) || !strcmp(name, "logits");
	st_dtype want = ctx == CTX_INDEX ? ST_I64 : ctx >= 0 ? ST_U8 : ST_F32;
	int from_int = t->dtype == ST_I64 || t->dtype == ST_I32 || t->dtype == ST_I16 || t->dtype == ST_I8 ||
		       t->dtype == ST_U8 || t->dtype == ST_BOOL;
	if ((ctx < 0 && !(is_float && t->dtype == ST_F64)) || (ctx >= 0 && !from_int) || t->dtype == want)
		return;
	int64_t n = st_numel(t);
	double *v = st_to_f64(t);
	void *data = cli_malloc(cli_mul(n ? n : 1, st_dtype_size(want), name));
	for (int64_t i = 0; i < n; i++) {
		if (want == ST_U8 && (v[i] < 0 || v[i] > 255))
			cli_die("%s: tensor '%s' holds %g at element %lld: not a U8 value", path, name, v[i], (long long)i);
		if (want == ST_U8)
			((uint8_t *)data)[i] = (uint8_t)v[i];
		else if (want == ST_I64)
			((int64_t *)data)[i] = (int64_t)v[i];
		else
			((float *)data)[i] = (float)v[i];
	}
	cli_info("%s: '%s' converted from %s to %s", path, name, st_dtype_name(t->dtype), st_dtype_name(want));
	free(v);
	free(t->data);
	t->data = data;
	t->dtype = want;
}

static int cmd_from_npy(int argc, char **argv)
{
	if (argc < 1) cli_usage("from-npy takes NAME=FILE.npy ...");
	st_file *out = st_file_new();
	for (int i = 0; i < argc; i++) {
		char *name = cli_strdup(argv[i]), *eq = strchr(name, '=');
		if (!eq || eq == name || !eq[1]) cli_usage("'%s': expected NAME=FILE.npy", argv[i]);
		*eq = 0;
		if (st_find(out, name)) cli_usage("tensor '%s' given twice", name);
		if (!strcmp(name, "__metadata__"))   /* the header's key for the metadata: no reader would accept it */
			cli_usage("'%s': a tensor cannot be named __metadata__ (use --meta KEY=VALUE for metadata)", argv[i]);
		npy_read_into(out, name, eq + 1);
		conform(out, name, eq + 1);
		free(name);
	}
	apply_meta(out);
	cli_write(out, cli_opts.output);
	st_file_free(out);
	return 0;
}

static int cmd_to_npy(int argc, char **argv)
{
	if (argc < 1 || argc > 2) cli_usage("to-npy takes NAME [FILE]");
	const char *name = argv[0], *path = argc > 1 ? argv[1] : "-";
	st_file *f = cli_load_some(path, keep_one, (void *)name);
	st_tensor *t = cli_get(f, path, name);
	cli_out *o = cli_out_open(cli_opts.output);
	npy_write(cli_out_fp(o), t);
	cli_out_close(o);
	st_file_free(f);
	return 0;
}

/* ---- PyTorch checkpoints ---- */

static int cmd_from_pth(int argc, char **argv)
{
	char err[ERR_LEN];
	if (argc != 1) cli_usage("from-pth takes one checkpoint: from-pth IN.pth [--key NAME] [--strip-prefix P] -o OUT");
	pth_opts po = { o.key, o.strip };
	pth_info info;
	st_file *f = pth_load(argv[0], &po, &info, err);
	if (!f) cli_die("%s", err);
	if (info.key[0]) cli_info("%s: the state dict is the checkpoint's entry '%s'", argv[0], info.key);
	if (info.stripped[0]) cli_info("%s: prefix '%s' removed from every name", argv[0], info.stripped);
	cli_info("%s: %d tensors%s", argv[0], f->n, info.legacy ? " (legacy format)" : "");
	apply_meta(f);
	cli_write(f, cli_opts.output);
	st_file_free(f);
	return 0;
}

/* ---- metadata ---- */

static int cmd_meta(int argc, char **argv)
{
	if (argc != 1) cli_usage("meta takes one file: meta FILE [--set KEY=VALUE ...]");
	const char *path = argv[0];
	st_file *f = cli_load(path);
	if (!o.set.n) {
		for (int i = 0; i < f->nmeta; i++)
			printf("%s\t%s\n", f->meta[i].key, f->meta[i].value);
		st_file_free(f);
		return 0;
	}
	set_meta(f, &o.set);
	/* in place unless -o names another output; a pipe goes on to standard output */
	cli_write(f, strcmp(cli_opts.output, "-") || !strcmp(path, "-") ? cli_opts.output : path);
	st_file_free(f);
	return 0;
}

static int cmd_pick(int argc, char **argv) { return cmd_select(argc, argv, 1); }
static int cmd_drop(int argc, char **argv) { return cmd_select(argc, argv, 0); }

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{"info", cmd_info}, {"dump", cmd_dump}, {"pick", cmd_pick}, {"drop", cmd_drop},
	{"merge", cmd_merge}, {"cat", cmd_cat}, {"stack", cmd_stack}, {"from-npy", cmd_from_npy},
	{"to-npy", cmd_to_npy}, {"from-pth", cmd_from_pth}, {"meta", cmd_meta},
};
enum { NCOMMANDS = sizeof commands / sizeof *commands };

int main(int argc, char **argv)
{
	cli_init(argc, argv, "tensors");
	cli_text_output = 1;   /* some commands write text: checked per command below */
	static const cli_opt opts[] = {
		{"rows", 'r', CLI_STR, &o.rows, "A:B", "dump: rows A (inclusive) to B (exclusive); negative counts from the end"},
		{"input", 'i', CLI_STR, &o.input, "FILE", "pick, drop: the input file"},
		{"meta", 0, CLI_LIST, &o.meta, "KEY=VALUE", "set a metadata entry in the output of pick, drop, merge, cat, stack, from-npy, from-pth (repeatable)"},
		{"as", 0, CLI_STR, &o.as, "NAME", "stack: the stacked tensor's name (default: NAME)"},
		{"set", 0, CLI_LIST, &o.set, "KEY=VALUE", "meta: set a metadata entry of FILE (repeatable)"},
		{"key", 0, CLI_STR, &o.key, "NAME", "from-pth: the entry of a checkpoint dict holding the state dict (default: found)"},
		{"strip-prefix", 0, CLI_STR, &o.strip, "P", "from-pth: remove P from the names ('' : nothing; default: 'module.' when every name has it)"},
		{0},
	};
	int first = cli_parse(argc, argv, opts, "tensors COMMAND [options] [ARGS]", about);
	if (first >= argc)
		cli_usage("missing command: info, dump, pick, drop, merge, cat, stack, from-npy, to-npy, from-pth or meta");
	/* info, dump and meta (without --set) write text; the others binary */
	cli_out_check(cli_opts.output, strcmp(argv[first], "info") && strcmp(argv[first], "dump") &&
		      strcmp(argv[first], "meta"));
	for (int c = 0; c < NCOMMANDS; c++)
		if (!strcmp(argv[first], commands[c].name))
			return commands[c].run(argc - first - 1, argv + first + 1);
	cli_usage("unknown command '%s'", argv[first]);
}

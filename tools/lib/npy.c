/* npy.c: NumPy .npy arrays in and out (format: numpy.lib.format). */
#include "npy.h"
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const struct { const char *descr; st_dtype dtype; } descrs[] = {
	{"f8", ST_F64}, {"f4", ST_F32}, {"f2", ST_F16}, {"i8", ST_I64}, {"i4", ST_I32},
	{"i2", ST_I16}, {"i1", ST_I8}, {"u1", ST_U8}, {"b1", ST_BOOL},
};

/* Value text of 'key' in the header's Python dict literal, or NULL. */
static const char *dict_value(const char *hdr, const char *key)
{
	char pat[32];
	snprintf(pat, sizeof pat, "'%s'", key);
	const char *p = strstr(hdr, pat);
	if (!p) return NULL;
	p += strlen(pat);
	while (isspace((unsigned char)*p)) p++;
	if (*p != ':') return NULL;
	p++;
	while (isspace((unsigned char)*p)) p++;
	return p;
}

static st_dtype parse_descr(const char *hdr, const char *path)
{
	const char *v = dict_value(hdr, "descr");
	if (!v || *v != '\'') cli_die("%s: not a .npy header: no 'descr' string", path);
	v++;
	const char *end = strchr(v, '\'');
	if (!end || end - v < 2 || end - v > 8) cli_die("%s: unsupported dtype in .npy header", path);
	char order = v[0];
	if (order == '>' ) cli_die("%s: big-endian .npy arrays are not supported", path);
	if (order != '<' && order != '|' && order != '=') cli_die("%s: unsupported dtype '%.*s'", path, (int)(end - v), v);
	for (size_t i = 0; i < sizeof descrs / sizeof *descrs; i++)
		if ((size_t)(end - v - 1) == strlen(descrs[i].descr) && !strncmp(v + 1, descrs[i].descr, (size_t)(end - v - 1)))
			return descrs[i].dtype;
	cli_die("%s: dtype '%.*s' has no safetensors equivalent (F64 F32 F16 I64 I32 I16 I8 U8 BOOL)", path, (int)(end - v), v);
}

static int parse_shape(const char *hdr, const char *path, int64_t *shape)
{
	const char *v = dict_value(hdr, "shape");
	if (!v || *v != '(') cli_die("%s: not a .npy header: no 'shape' tuple", path);
	v++;
	int nd = 0;
	for (;;) {
		while (isspace((unsigned char)*v)) v++;
		if (*v == ')') break;
		if (!isdigit((unsigned char)*v)) cli_die("%s: bad shape in .npy header", path);
		if (nd == ST_MAX_DIMS) cli_die("%s: more than %d dimensions", path, ST_MAX_DIMS);
		errno = 0;
		char *end;
		long long d = strtoll(v, &end, 10);
		if (errno || d < 0) cli_die("%s: bad shape in .npy header", path);
		shape[nd++] = d;
		v = end;
		while (isspace((unsigned char)*v)) v++;
		if (*v == ',') v++;
		else if (*v != ')') cli_die("%s: bad shape in .npy header", path);
	}
	return nd;
}

static char *read_header(FILE *fp, const char *path)
{
	unsigned char pre[12];
	if (fread(pre, 1, 10, fp) != 10 || memcmp(pre, "\x93NUMPY", 6))
		cli_die("%s: not a .npy file (no \\x93NUMPY magic)", path);
	uint32_t len;
	if (pre[6] == 1) len = pre[8] | (uint32_t)pre[9] << 8;
	else if (pre[6] == 2 || pre[6] == 3) {
		if (fread(pre + 10, 1, 2, fp) != 2) cli_die("%s: truncated .npy header", path);
		len = pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
		if (len > (1u << 24)) cli_die("%s: .npy header of %u bytes is too long", path, len);
	} else cli_die("%s: .npy format version %d.%d is not supported", path, pre[6], pre[7]);
	char *hdr = cli_malloc((size_t)len + 1);
	if (fread(hdr, 1, len, fp) != len) cli_die("%s: truncated .npy header", path);
	hdr[len] = 0;
	return hdr;
}

void npy_read_into(st_file *f, const char *name, const char *path)
{
	FILE *fp = cli_open_in(path);
	char *hdr = read_header(fp, path);
	const char *fo = dict_value(hdr, "fortran_order");
	if (!fo || strncmp(fo, "False", 5)) cli_die("%s: Fortran-order arrays are not supported (use numpy.ascontiguousarray)", path);
	int64_t shape[ST_MAX_DIMS];
	st_dtype dt = parse_descr(hdr, path);
	int nd = parse_shape(hdr, path, shape);
	free(hdr);
	st_tensor *t = st_add(f, name, dt, nd, shape, NULL, 1);
	uint64_t nb = st_nbytes(t);
	if (nb == UINT64_MAX || nb > SIZE_MAX) cli_die("%s: shape product overflows", path);
	t->data = cli_malloc((size_t)nb);
	if (fread(t->data, 1, (size_t)nb, fp) != nb) cli_die("%s: truncated .npy data: %" PRIu64 " bytes expected", path, nb);
	if (fgetc(fp) != EOF) cli_die("%s: trailing bytes after the .npy data", path);
	if (fp != stdin) fclose(fp);
}

void npy_write(FILE *out, const st_tensor *t)
{
	const char *descr = NULL;
	for (size_t i = 0; i < sizeof descrs / sizeof *descrs; i++)
		if (descrs[i].dtype == t->dtype) descr = descrs[i].descr;
	int widen = t->dtype == ST_BF16;
	if (widen) descr = "f4";
	char dict[512];
	int k = snprintf(dict, sizeof dict, "{'descr': '%c%s', 'fortran_order': False, 'shape': (",
			 descr[1] == '1' ? '|' : '<', descr);
	for (int d = 0; d < t->ndim; d++) k += snprintf(dict + k, sizeof dict - (size_t)k, "%" PRId64 ",%s", t->shape[d], d + 1 < t->ndim ? " " : "");
	if (t->ndim > 1) k--;   /* NumPy writes (2, 3) but (3,) */
	k += snprintf(dict + k, sizeof dict - (size_t)k, "), }");
	int total = 10 + k + 1, pad = (64 - total % 64) % 64;
	fwrite("\x93NUMPY\x01\x00", 1, 8, out);
	uint16_t hl = (uint16_t)(k + pad + 1);
	unsigned char hb[2] = {(unsigned char)(hl & 0xFF), (unsigned char)(hl >> 8)};
	fwrite(hb, 1, 2, out);
	fwrite(dict, 1, (size_t)k, out);
	for (int i = 0; i < pad; i++) fputc(' ', out);
	fputc('\n', out);
	if (widen) {
		float *x = st_to_f32(t);
		fwrite(x, sizeof *x, (size_t)st_numel(t), out);
		free(x);
	} else {
		fwrite(t->data, 1, (size_t)st_nbytes(t), out);
	}
}

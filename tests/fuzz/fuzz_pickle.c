/* fuzz_pickle.c: libFuzzer target for the checkpoint reader (pickle.h,
 * pth.h; make fuzz).
 *
 * Each input is read three ways:
 *  1. as a bare pickle (pk_load), and when it loads, its state dict
 *     (pth_state_dict) with every storage read as zeros, with and without
 *     --key state_dict and --strip-prefix module.;
 *  2. as a legacy stream (pth_load_legacy), which is several pickles and
 *     the storages' bytes after them;
 *  3. as a checkpoint file (pth_load on a memfd): the magic bytes choose
 *     the zip or the legacy reader, as extract-feats --model does.
 * Any may refuse; a refusal must be one line of text. What is accepted
 * must hold: tensors whose byte size matches their shape and dtype, names
 * that are non-empty UTF-8, and a safetensors header that our own reader
 * takes back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pth.h"
#define FUZZ_TARGET "fuzz_pickle"
#include "fuzz.h"

static void check_err(const char *err)
{
	check(err[0] != '\0', "failure without a message");
	check(fuzz_one_line(err), "error message spans lines or holds a control character");
}

static void *zeros(void *ctx, const pk_storage *s, uint64_t nbytes, char *err)
{
	(void)ctx;
	if (nbytes > (1u << 20))
		return err_set(err, "storage '%s' too large for the fuzzer", s->key), NULL;
	return calloc(1, nbytes ? nbytes : 1);
}

static void check_file(st_file *f)
{
	char err[ERR_LEN];
	size_t bad, len = 0;
	uint64_t total = 0;
	for (int i = 0; i < f->n; i++) {
		const st_tensor *t = &f->t[i];
		check(t->name[0] && util_utf8_valid(t->name, strlen(t->name), &bad), "a bad tensor name accepted");
		check(st_numel(t) >= 0 && (t->data || st_nbytes(t) == 0), "a tensor without its data");
		total += st_nbytes(t);
	}
	char *json = st_header_json(f, &len);
	st_file *g = st_file_new();
	int rc = st_parse_header(json, len, total, g, err);
	if (rc)
		fprintf(stderr, "fuzz_pickle: written header refused: %s\n", err);
	check(rc == 0 && g->n == f->n, "a state dict whose safetensors header our reader refuses");
	st_file_free(g);
	free(json);
	st_file_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[ERR_LEN] = "";
	size_t used = 0;
	pk_pickle *p = pk_load(data, size, &used, err);
	if (!p) {
		check_err(err);
	} else {
		check(used >= 1 && used <= size && data[used - 1] == '.', "a pickle accepted without its STOP");
		(void)pk_describe(pk_root(p));
		static const pth_opts opts[3] = { { NULL, NULL }, { "state_dict", NULL }, { NULL, "module." } };
		for (int i = 0; i < 3; i++) {
			err[0] = 0;
			st_file *f = pth_state_dict(pk_root(p), &opts[i], NULL, zeros, NULL, err);
			if (f)
				check_file(f);
			else
				check_err(err);
		}
		pk_free(p);
	}
	err[0] = 0;
	st_file *f = pth_load_legacy(data, size, NULL, NULL, err);
	if (f)
		check_file(f);
	else
		check_err(err);
	err[0] = 0;
	if ((f = pth_load(fuzz_file(data, size), NULL, NULL, err)))
		check_file(f);
	else
		check_err(err);
	return 0;
}

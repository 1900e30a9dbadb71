/* pth_dump: PyTorch checkpoints through pth.h, for tests/26-pth.t and
 * tests/27-pth-hostile.t.
 *
 *   pth_dump [--key K] [--strip-prefix P] [--pickle] FILE OUT.st
 * reads the checkpoint FILE (--pickle: FILE is a bare pickle, its storages
 * read as zeros), writes its state dict to OUT.st and prints
 * "key=K stripped=P legacy=0|1 tensors=N". Errors print one line
 * "pth_dump: message" and exit 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pth.h"

static void *zeros(void *ctx, const pk_storage *s, uint64_t nbytes, char *err)
{
	(void)ctx;
	if (nbytes > (1u << 26))
		return err_set(err, "storage '%s' of %llu bytes: more than a test needs", s->key,
			       (unsigned long long)nbytes), NULL;
	return calloc(1, nbytes ? nbytes : 1);
}

static st_file *bare_pickle(const char *path, const pth_opts *o, pth_info *info, char *err)
{
	FILE *fp = fopen(path, "rb");
	size_t cap = 1 << 16, len = 0, got;
	uint8_t *buf = malloc(cap);
	if (!fp || !buf)
		return err_set(err, "cannot read %s", path), NULL;
	while ((got = fread(buf + len, 1, cap - len, fp)) > 0)
		if ((len += got) == cap)
			buf = realloc(buf, cap *= 2);
	fclose(fp);
	char why[ERR_LEN];
	pk_pickle *p = pk_load(buf, len, NULL, why);
	st_file *f = p ? pth_state_dict(pk_root(p), o, info, zeros, NULL, why) : NULL;
	if (!f)
		err_set(err, "%s: %s", path, why);
	pk_free(p);
	free(buf);
	return f;
}

int main(int argc, char **argv)
{
	pth_opts o = { NULL, NULL };
	pth_info info;
	int pickle = 0, i = 1;
	char err[ERR_LEN];
	for (; i < argc - 2; i++) {
		if (!strcmp(argv[i], "--key") && i + 1 < argc - 2)
			o.key = argv[++i];
		else if (!strcmp(argv[i], "--strip-prefix") && i + 1 < argc - 2)
			o.strip_prefix = argv[++i];
		else if (!strcmp(argv[i], "--pickle"))
			pickle = 1;
		else
			break;
	}
	if (argc - i != 2) {
		fprintf(stderr, "pth_dump: usage: pth_dump [--key K] [--strip-prefix P] [--pickle] FILE OUT.st\n");
		return 2;
	}
	memset(&info, 0, sizeof info);
	st_file *f = pickle ? bare_pickle(argv[i], &o, &info, err) : pth_load(argv[i], &o, &info, err);
	if (!f) {
		fprintf(stderr, "pth_dump: %s\n", err);
		return 1;
	}
	FILE *out = fopen(argv[i + 1], "wb");
	if (!out || st_write(f, out, err) || fclose(out)) {
		fprintf(stderr, "pth_dump: cannot write %s\n", argv[i + 1]);
		return 1;
	}
	printf("key=%s stripped=%s legacy=%d tensors=%d\n", info.key, info.stripped, info.legacy, f->n);
	st_file_free(f);
	return 0;
}

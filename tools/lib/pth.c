/* pth.c: PyTorch checkpoints into safetensors tensors (pth.h,
 * docs/models.md). The pickle says which tensors exist and how they view
 * their storages; the container gives each storage's bytes. */
#include "pth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zipfile.h"

/* The legacy format's first pickle: protocol 2, LONG1 of 10 bytes holding
 * torch.serialization.MAGIC_NUMBER 0x1950a86a20f9469cfc6c. */
static const uint8_t legacy_magic[] = {
	0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19
};

int pth_sniff(const uint8_t *head, size_t n)
{
	return (n >= 4 && !memcmp(head, "PK\3\4", 4)) ||
	       (n >= sizeof legacy_magic && !memcmp(head, legacy_magic, sizeof legacy_magic));
}

int pth_is_file(const char *path)
{
	uint8_t head[sizeof legacy_magic];
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return 0;
	size_t n = fread(head, 1, sizeof head, fp);
	fclose(fp);
	return pth_sniff(head, n);
}

/* ---- which dict is the state dict ---- */

static int is_tensor_dict(const pk_value *v)
{
	if (v->kind != PK_DICT || v->n == 0)
		return 0;
	for (size_t i = 0; i < v->n; i++)
		if (pk_val(v, i)->kind != PK_TENSOR)
			return 0;
	return 1;
}

/* "'a', 'b', 'c', ..." of a dict's string keys: only those holding a dict of
 * tensors (what 1), all (what 0), all with what they hold (what 2) */
static const char *key_list(const pk_value *d, int what, char *buf, size_t n)
{
	size_t k = 0, shown = 0;
	buf[0] = 0;
	for (size_t i = 0; i < d->n && k < n; i++) {
		if (pk_key(d, i)->kind != PK_STR || (what == 1 && !is_tensor_dict(pk_val(d, i))))
			continue;
		if (shown++ == 6) {
			snprintf(buf + k, n - k, ", ...");
			break;
		}
		k += (size_t)snprintf(buf + k, n - k, "%s'%s'", k ? ", " : "", err_esc(pk_key(d, i)->s));
		if (what == 2 && k < n)
			k += (size_t)snprintf(buf + k, n - k, " (%s)", pk_describe(pk_val(d, i)));
	}
	return buf;
}

static const pk_value *find_state_dict(const pk_value *root, const pth_opts *o, pth_info *info, char *err)
{
	char keys[400];
	if (o && o->key) {
		if (root->kind != PK_DICT)
			return err_set(err, "--key %s: the checkpoint holds %s, not a dict", err_esc(o->key),
				       pk_describe(root)), NULL;
		const pk_value *v = pk_dict_get(root, o->key);
		if (!v)
			return err_set(err, "no entry '%s' in the checkpoint (entries: %s)", err_esc(o->key),
				       key_list(root, 0, keys, sizeof keys)), NULL;
		if (v->kind != PK_DICT)
			return err_set(err, "entry '%s' holds %s, not a state dict", err_esc(o->key), pk_describe(v)), NULL;
		snprintf(info->key, sizeof info->key, "%s", o->key);
		return v;
	}
	if (is_tensor_dict(root))
		return root;
	if (root->kind != PK_DICT)
		return err_set(err, "the checkpoint holds %s, not a state dict%s", pk_describe(root),
			       root->kind == PK_OBJECT ? " (torch.save(model) pickles the whole module: save "
			       "model.state_dict() instead)" : ""), NULL;
	const pk_value *found = NULL;
	size_t nfound = 0;
	for (size_t i = 0; i < root->n; i++)
		if (pk_key(root, i)->kind == PK_STR && is_tensor_dict(pk_val(root, i))) {
			found = pk_val(root, i);
			if (!nfound++)
				snprintf(info->key, sizeof info->key, "%s", pk_key(root, i)->s);
		}
	if (nfound == 1)
		return found;
	if (nfound > 1)
		return err_set(err, "%zu entries hold a state dict (%s): choose one with --key", nfound,
			       key_list(root, 1, keys, sizeof keys)), NULL;
	for (size_t i = 0; i < root->n; i++)   /* a dict of tensors and something else: say what */
		if (pk_val(root, i)->kind == PK_TENSOR)
			for (size_t j = 0; j < root->n; j++)
				if (pk_val(root, j)->kind != PK_TENSOR && pk_key(root, j)->kind == PK_STR)
					return err_set(err, "entry '%s' holds %s, not a tensor", err_esc(pk_key(root, j)->s),
						       pk_describe(pk_val(root, j))), NULL;
	return err_set(err, "no state dict in the checkpoint: a dict of %zu entries, none a dict of tensors: %s",
		       root->n, key_list(root, 2, keys, sizeof keys)), NULL;
}

/* ---- names ---- */

static int has_prefix(const pk_value *k, const char *p)
{
	return !strncmp(k->s, p, strlen(p));
}

/* The prefix to strip from every name that has it ("" for none). */
static const char *prefix_to_strip(const pk_value *d, const pth_opts *o, char *err)
{
	if (o && o->strip_prefix) {
		if (!*o->strip_prefix)
			return "";
		for (size_t i = 0; i < d->n; i++)
			if (has_prefix(pk_key(d, i), o->strip_prefix))
				return o->strip_prefix;
		return err_set(err, "no tensor name starts with '%s' (the first is '%s')", err_esc(o->strip_prefix),
			       err_esc(pk_key(d, 0)->s)), NULL;
	}
	for (size_t i = 0; i < d->n; i++)
		if (!has_prefix(pk_key(d, i), "module."))
			return "";
	return "module.";
}

/* ---- storages: each fetched once, freed after its last tensor ---- */

typedef struct {
	const pk_storage *s;
	int refs;
	uint8_t *data;
	int fetched;
} slot;

static int slot_cmp(const void *a, const void *b)
{
	return strcmp(((const slot *)a)->s->key, ((const slot *)b)->s->key);
}

static int slot_key_cmp(const void *key, const void *b)
{
	return strcmp(key, ((const slot *)b)->s->key);
}

static int64_t tensor_numel(const pk_tensor *t)
{
	int64_t n = 1;
	for (int d = 0; d < t->ndim; d++)
		n *= t->shape[d];   /* checked below 2^59 by pickle.c */
	return n;
}

static int contiguous(const pk_tensor *t)
{
	int64_t want = 1;
	for (int d = t->ndim - 1; d >= 0; d--) {
		if (t->shape[d] != 1 && t->stride[d] != want)
			return 0;
		want *= t->shape[d];
	}
	return 1;
}

/* the tensor's elements in row-major order from its storage's bytes */
static void gather(uint8_t *dst, const uint8_t *src, size_t es, const pk_tensor *t, int64_t numel)
{
	if (t->ndim == 0) {
		memcpy(dst, src + (size_t)t->offset * es, es);
		return;
	}
	int64_t idx[ST_MAX_DIMS] = { 0 };
	int last = t->ndim - 1;
	int64_t inner = t->shape[last], istride = t->stride[last];
	for (int64_t done = 0; done < numel; done += inner) {
		int64_t at = t->offset;
		for (int d = 0; d < last; d++)
			at += idx[d] * t->stride[d];
		if (istride == 1)
			memcpy(dst, src + (size_t)at * es, (size_t)inner * es);
		else
			for (int64_t j = 0; j < inner; j++)
				memcpy(dst + (size_t)j * es, src + (size_t)(at + j * istride) * es, es);
		dst += (size_t)inner * es;
		for (int d = last - 1; d >= 0 && ++idx[d] == t->shape[d]; d--)
			idx[d] = 0;
	}
}

st_file *pth_state_dict(const pk_value *root, const pth_opts *o, pth_info *info_out,
			pth_fetch_fn fetch, void *ctx, char *err)
{
	pth_info scratch_info, *info = info_out ? info_out : &scratch_info;
	memset(info->key, 0, sizeof info->key);
	memset(info->stripped, 0, sizeof info->stripped);
	const pk_value *d = find_state_dict(root, o, info, err);
	if (!d)
		return NULL;
	for (size_t i = 0; i < d->n; i++) {
		const pk_value *k = pk_key(d, i), *v = pk_val(d, i);
		if (k->kind != PK_STR)
			return err_set(err, "a state dict key that is %s, not a string", pk_describe(k)), NULL;
		if (!k->len || strlen(k->s) != k->len)
			return err_set(err, "a tensor name that is empty or holds a NUL byte"), NULL;
		if (v->kind != PK_TENSOR)
			return err_set(err, "entry '%s' holds %s, not a tensor", err_esc(k->s), pk_describe(v)), NULL;
	}
	const char *prefix = prefix_to_strip(d, o, err);
	if (!prefix)
		return NULL;
	snprintf(info->stripped, sizeof info->stripped, "%s", prefix);

	/* one slot per storage key, with the number of tensors that use it */
	slot *slots = calloc(d->n, sizeof *slots);
	size_t nslots = 0;
	if (!slots)
		return err_set(err, "out of memory"), NULL;
	for (size_t i = 0; i < d->n; i++)
		slots[i].s = pk_val(d, i)->tensor->storage->storage;
	qsort(slots, d->n, sizeof *slots, slot_cmp);
	for (size_t i = 0; i < d->n; i++) {
		if (nslots && !strcmp(slots[nslots - 1].s->key, slots[i].s->key)) {
			const pk_storage *a = slots[nslots - 1].s, *b = slots[i].s;
			if (a->dtype != b->dtype || a->numel != b->numel) {
				free(slots);
				return err_set(err, "storage '%s' declared twice with different types or sizes",
					       err_esc(a->key)), NULL;
			}
			slots[nslots - 1].refs++;
			continue;
		}
		slots[nslots] = slots[i];
		slots[nslots++].refs = 1;
	}

	st_file *out = st_file_new();
	for (size_t i = 0; i < d->n; i++) {
		const char *name = pk_key(d, i)->s;
		const pk_tensor *t = pk_val(d, i)->tensor;
		slot *s = bsearch(t->storage->storage->key, slots, nslots, sizeof *slots, slot_key_cmp);
		size_t es = st_dtype_size(s->s->dtype);
		if (!s->fetched) {
			s->fetched = 1;
			if (!(s->data = fetch(ctx, s->s, (uint64_t)s->s->numel * es, err)))
				goto bad;
		}
		int64_t numel = tensor_numel(t);
		uint8_t *data;
		if (s->refs == 1 && t->offset == 0 && numel == s->s->numel && contiguous(t)) {
			data = s->data;   /* the storage is this tensor: no copy */
			s->data = NULL;
		} else if (!(data = malloc(numel ? (size_t)numel * es : 1))) {
			err_set(err, "out of memory for tensor '%s'", err_esc(name));
			goto bad;
		} else if (numel)
			gather(data, s->data, es, t, numel);
		if (--s->refs == 0) {
			free(s->data);
			s->data = NULL;
		}
		if (has_prefix(pk_key(d, i), prefix))
			name += strlen(prefix);
		if (!st_add(out, name, s->s->dtype, t->ndim, t->shape, data, 1)) {
			free(data);
			err_set(err, "tensor name '%s' appears twice%s", err_esc(name),
				*prefix ? " once the prefix is removed" : "");
			goto bad;
		}
	}
	free(slots);
	return out;
bad:
	for (size_t i = 0; i < nslots; i++)
		free(slots[i].data);
	free(slots);
	st_file_free(out);
	return NULL;
}

/* ---- the zip container ---- */

typedef struct {
	zip_file *z;
	char prefix[256];   /* "<archive>/" */
} zip_ctx;

static void *zip_fetch(void *ctx, const pk_storage *s, uint64_t nbytes, char *err)
{
	zip_ctx *c = ctx;
	char name[512];
	size_t len;
	snprintf(name, sizeof name, "%sdata/%s", c->prefix, s->key);
	int k = zip_find(c->z, name);
	if (k < 0)
		return err_set(err, "storage record %s missing", err_esc(name)), NULL;
	if (zip_entry_at(c->z, k)->size != nbytes)
		return err_set(err, "storage record %s holds %llu bytes, the pickle says %llu", err_esc(name),
			       (unsigned long long)zip_entry_at(c->z, k)->size, (unsigned long long)nbytes), NULL;
	return zip_read(c->z, k, nbytes, &len, err);
}

/* the archive folder: the one record <dir>/data.pkl */
static int zip_layout(zip_ctx *c, char *err)
{
	int found = 0;
	for (int k = 0; k < zip_count(c->z); k++) {
		const char *n = zip_entry_at(c->z, k)->name, *slash = strchr(n, '/');
		if (slash && !strcmp(slash, "/data.pkl") && (size_t)(slash - n) < sizeof c->prefix - 1) {
			if (found++)
				return err_set(err, "two data.pkl records: not one torch.save archive");
			snprintf(c->prefix, sizeof c->prefix, "%.*s", (int)(slash - n + 1), n);
		}
	}
	if (!found)
		return err_set(err, "a zip without <archive>/data.pkl: not a torch.save checkpoint");
	char name[300];
	snprintf(name, sizeof name, "%sconstants.pkl", c->prefix);
	if (zip_find(c->z, name) >= 0)
		return err_set(err, "a TorchScript archive (torch.jit.save), not supported: save the state_dict "
			       "with torch.save(model.state_dict(), PATH)");
	snprintf(name, sizeof name, "%sbyteorder", c->prefix);
	int k = zip_find(c->z, name);
	if (k >= 0) {
		size_t len;
		uint8_t *b = zip_read(c->z, k, 16, &len, err);
		if (!b)
			return -1;
		int little = len == 6 && !memcmp(b, "little", 6);
		free(b);
		if (!little)
			return err_set(err, "storages saved big-endian: not supported");
	}
	return 0;
}

static st_file *load_zip(const char *path, const pth_opts *o, pth_info *info, char *err)
{
	char why[ERR_LEN];
	zip_ctx c = { 0 };
	st_file *f = NULL;
	pk_pickle *p = NULL;
	uint8_t *pkl = NULL;
	size_t len;
	if (!(c.z = zip_open(path, why)))
		return err_set(err, "%s", why), NULL;
	if (zip_layout(&c, why))
		goto bad;
	char name[300];
	snprintf(name, sizeof name, "%sdata.pkl", c.prefix);
	if (!(pkl = zip_read(c.z, zip_find(c.z, name), PTH_MAX_PICKLE, &len, why)))
		goto bad;
	if (!(p = pk_load(pkl, len, NULL, why))) {
		char tmp[ERR_LEN];
		memcpy(tmp, why, sizeof tmp);
		err_set(why, "data.pkl: %s", tmp);
		goto bad;
	}
	f = pth_state_dict(pk_root(p), o, info, zip_fetch, &c, why);
bad:
	if (!f)
		err_set(err, "%s: %s", path, why);
	pk_free(p);
	free(pkl);
	zip_close(c.z);
	return f;
}

/* ---- the legacy stream ---- */

typedef struct {
	const uint8_t *base;
	size_t size;
	const char **keys;      /* storage keys in file order */
	uint64_t *offset;       /* where each one's data begin */
	size_t n;
} legacy_ctx;

static void *legacy_fetch(void *ctx, const pk_storage *s, uint64_t nbytes, char *err)
{
	legacy_ctx *c = ctx;
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->keys[i], s->key)) {
			uint8_t *data = malloc(nbytes ? nbytes : 1);
			if (!data)
				return err_set(err, "out of memory for storage '%s'", err_esc(s->key)), NULL;
			memcpy(data, c->base + c->offset[i], nbytes);
			return data;
		}
	return err_set(err, "storage '%s' not in the file's list of storages", err_esc(s->key)), NULL;
}

/* The pickle at *pos, which then moves past it. */
static pk_pickle *next_pickle(const uint8_t *base, size_t size, size_t *pos, const char *what, char *err)
{
	size_t used;
	char why[ERR_LEN];
	pk_pickle *p = pk_load(base + *pos, size - *pos, &used, why);
	if (!p)
		return err_set(err, "%s: %s", what, why), NULL;
	*pos += used;
	return p;
}

/* After the main pickle: the sorted list of storage keys, then per key an
 * int64 element count and the bytes. The element sizes come from the
 * storages the main pickle declared. */
static int legacy_index(legacy_ctx *c, const pk_pickle *main, const pk_value *list, size_t pos, char *err)
{
	const pk_value *const *decl;
	size_t ndecl = pk_storages(main, &decl);
	if (list->kind != PK_LIST)
		return err_set(err, "the storage list is %s, not a list", pk_describe(list));
	c->n = list->n;
	c->keys = calloc(c->n + 1, sizeof *c->keys);
	c->offset = calloc(c->n + 1, sizeof *c->offset);
	if (!c->keys || !c->offset)
		return err_set(err, "out of memory");
	for (size_t i = 0; i < c->n; i++) {
		const pk_value *k = list->items[i];
		const pk_storage *s = NULL;
		if (k->kind != PK_STR)
			return err_set(err, "the storage list holds %s, not a key", pk_describe(k));
		for (size_t j = 0; j < ndecl && !s; j++)
			if (!strcmp(decl[j]->storage->key, k->s))
				s = decl[j]->storage;
		if (!s)
			return err_set(err, "storage '%s' listed but never used", err_esc(k->s));
		uint64_t nbytes = (uint64_t)s->numel * st_dtype_size(s->dtype);
		if (c->size - pos < 8)
			return err_set(err, "truncated: the data end before storage '%s'", err_esc(k->s));
		uint64_t numel = 0;
		for (int b = 7; b >= 0; b--)
			numel = numel << 8 | c->base[pos + (size_t)b];
		if (numel != (uint64_t)s->numel)
			return err_set(err, "storage '%s' holds %llu elements, the pickle says %lld", err_esc(k->s),
				       (unsigned long long)numel, (long long)s->numel);
		pos += 8;
		if (c->size - pos < nbytes)
			return err_set(err, "truncated: storage '%s' ends past the end of the file", err_esc(k->s));
		c->keys[i] = k->s;
		c->offset[i] = pos;
		pos += nbytes;
	}
	if (pos != c->size)
		return err_set(err, "%zu bytes after the last storage", c->size - pos);
	return 0;
}

st_file *pth_load_legacy(const uint8_t *base, size_t size, const pth_opts *o, pth_info *info, char *err)
{
	legacy_ctx c = { base, size, NULL, NULL, 0 };
	pk_pickle *head[3] = { 0 }, *main = NULL, *keys = NULL;
	const char *what[3] = { "magic number", "protocol version", "system info" };
	size_t pos = 0;
	st_file *f = NULL;
	for (int i = 0; i < 3; i++)
		if (!(head[i] = next_pickle(base, size, &pos, what[i], err)))
			goto done;
	const pk_value *version = pk_root(head[1]), *sys = pk_root(head[2]), *le;
	if (version->kind != PK_INT || version->i != 1001) {
		err_set(err, "legacy protocol version is not 1001");
		goto done;
	}
	if (sys->kind != PK_DICT || !(le = pk_dict_get(sys, "little_endian")) || le->kind != PK_BOOL || !le->i) {
		err_set(err, "saved on a big-endian machine or without system info: not supported");
		goto done;
	}
	if (!(main = next_pickle(base, size, &pos, "the checkpoint's pickle", err)) ||
	    !(keys = next_pickle(base, size, &pos, "the storage list", err)))
		goto done;
	if (legacy_index(&c, main, pk_root(keys), pos, err))
		goto done;
	if (info)
		info->legacy = 1;
	f = pth_state_dict(pk_root(main), o, info, legacy_fetch, &c, err);
done:
	for (int i = 0; i < 3; i++)
		pk_free(head[i]);
	pk_free(main);
	pk_free(keys);
	free(c.keys);
	free(c.offset);
	return f;
}

static st_file *load_legacy_file(const char *path, const pth_opts *o, pth_info *info, char *err)
{
	char why[ERR_LEN];
	struct stat sb;
	int fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &sb)) {
		err_set(err, "cannot open %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	void *map = sb.st_size > 0 ? mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	close(fd);
	if (map == MAP_FAILED)
		return err_set(err, "cannot map %s: %s", path, strerror(errno)), NULL;
	st_file *f = pth_load_legacy(map, (size_t)sb.st_size, o, info, why);
	munmap(map, (size_t)sb.st_size);
	if (!f)
		err_set(err, "%s: %s", path, why);
	return f;
}

st_file *pth_load(const char *path, const pth_opts *o, pth_info *info, char *err)
{
	uint8_t head[512];
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return err_set(err, "cannot open %s: %s", path, strerror(errno)), NULL;
	size_t n = fread(head, 1, sizeof head, fp);
	fclose(fp);
	if (info)
		memset(info, 0, sizeof *info);
	if (n >= 4 && !memcmp(head, "PK\3\4", 4))
		return load_zip(path, o, info, err);
	if (n >= sizeof legacy_magic && !memcmp(head, legacy_magic, sizeof legacy_magic))
		return load_legacy_file(path, o, info, err);
	if (n >= 262 && !memcmp(head + 257, "ustar", 5))
		return err_set(err, "%s: the tar checkpoint format of torch before 0.1.10: not supported", path), NULL;
	return err_set(err, "%s: not a PyTorch checkpoint (neither a torch.save zip nor the legacy format)", path),
	       NULL;
}

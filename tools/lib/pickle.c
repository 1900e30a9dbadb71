/* pickle.c: a pickle interpreter for what torch.save writes (pickle.h,
 * docs/models.md). A stack machine over the opcodes of protocols 2 to 4
 * that build data; everything that would import or call Python code is
 * either one of the few names we understand or an inert placeholder. */
#include "pickle.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pk_pickle {
	pk_value *root;
	pk_value *all;       /* every value, linked through next_alloc */
	size_t nvalues;
	const pk_value **storages;   /* every persistent id, in order */
	size_t nstorages, storcap;
};

typedef struct {
	pk_pickle *p;
	const uint8_t *buf;
	size_t len, pos, op_at;   /* op_at: the offset of the opcode being run */
	pk_value **stack;
	size_t sp, scap;
	size_t *marks;
	size_t nmarks, mcap;
	pk_value **memo;
	size_t nmemo, memocap;
	char *err;
} machine;

/* ---- values ---- */

static void value_free(pk_value *v)
{
	switch (v->kind) {
	case PK_BIGINT: case PK_STR: case PK_BYTES: case PK_GLOBAL: case PK_OBJECT:
		free(v->s);
		break;
	case PK_TUPLE: case PK_LIST: case PK_DICT:
		free(v->items);
		break;
	case PK_STORAGE:
		free(v->storage);
		break;
	case PK_TENSOR:
		free(v->tensor);
		break;
	default:
		break;
	}
	free(v);
}

void pk_free(pk_pickle *p)
{
	if (!p)
		return;
	for (pk_value *v = p->all, *next; v; v = next) {
		next = v->next_alloc;
		value_free(v);
	}
	free(p->storages);
	free(p);
}

const pk_value *pk_root(const pk_pickle *p)
{
	return p->root;
}

size_t pk_storages(const pk_pickle *p, const pk_value *const **out)
{
	*out = p->storages;
	return p->nstorages;
}

__attribute__((format(printf, 2, 3))) static int fail(machine *m, const char *fmt, ...)
{
	char what[ERR_LEN - 40];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return err_set(m->err, "pickle byte %zu: %s", m->op_at, what);
}

static pk_value *new_value(machine *m, pk_kind kind)
{
	if (m->p->nvalues >= PK_MAX_VALUES) {
		fail(m, "more than 8388608 values: not a checkpoint");
		return NULL;
	}
	pk_value *v = calloc(1, sizeof *v);
	if (!v) {
		fail(m, "out of memory");
		return NULL;
	}
	v->kind = kind;
	v->next_alloc = m->p->all;
	m->p->all = v;
	m->p->nvalues++;
	return v;
}

/* a value holding a copy of n bytes (NUL-terminated) */
static pk_value *new_bytes(machine *m, pk_kind kind, const void *s, size_t n)
{
	pk_value *v = new_value(m, kind);
	if (!v)
		return NULL;
	if (!(v->s = malloc(n + 1))) {
		fail(m, "out of memory for a string of %zu bytes", n);
		return NULL;
	}
	memcpy(v->s, s, n);
	v->s[n] = 0;
	v->len = n;
	return v;
}

/* room for one more item slot pair (dicts) or item */
static int grow_items(machine *m, pk_value *v, size_t more)
{
	if (v->n * (v->kind == PK_DICT ? 2 : 1) + more <= v->cap)
		return 0;
	size_t cap = v->cap ? v->cap * 2 : 8;
	while (cap < v->n * 2 + more)
		cap *= 2;
	pk_value **items = realloc(v->items, cap * sizeof *items);
	if (!items)
		return fail(m, "out of memory");
	v->items = items;
	v->cap = cap;
	return 0;
}

static int push_item(machine *m, pk_value *seq, pk_value *item)
{
	if (grow_items(m, seq, 1))
		return -1;
	seq->items[seq->n++] = item;
	return 0;
}

static int set_item(machine *m, pk_value *dict, pk_value *key, pk_value *val)
{
	if (grow_items(m, dict, 2))
		return -1;
	dict->items[2 * dict->n] = key;
	dict->items[2 * dict->n + 1] = val;
	dict->n++;
	return 0;
}

const pk_value *pk_dict_get(const pk_value *d, const char *key)
{
	size_t n = strlen(key);
	for (size_t i = d->n; i-- > 0;) {
		const pk_value *k = pk_key(d, i);
		if (k->kind == PK_STR && k->len == n && !memcmp(k->s, key, n))
			return pk_val(d, i);
	}
	return NULL;
}

const char *pk_describe(const pk_value *v)
{
	static __thread char buf[160];
	static const char *names[] = {
		[PK_NONE] = "None", [PK_BOOL] = "a boolean", [PK_INT] = "an integer",
		[PK_BIGINT] = "an integer", [PK_FLOAT] = "a float", [PK_STR] = "a string",
		[PK_BYTES] = "bytes", [PK_TUPLE] = "a tuple", [PK_LIST] = "a list", [PK_DICT] = "a dict",
		[PK_STORAGE] = "a storage", [PK_TENSOR] = "a tensor",
	};
	if (v->kind == PK_GLOBAL || v->kind == PK_OBJECT) {
		snprintf(buf, sizeof buf, "%s %s", v->kind == PK_GLOBAL ? "the global" : "an object built by",
			 err_esc(v->s));
		return buf;
	}
	return names[v->kind];
}

/* ---- the stack, marks and memo ---- */

static int push(machine *m, pk_value *v)
{
	if (!v)
		return -1;
	if (m->sp == m->scap) {
		size_t cap = m->scap ? m->scap * 2 : 64;
		pk_value **s = realloc(m->stack, cap * sizeof *s);
		if (!s)
			return fail(m, "out of memory");
		m->stack = s;
		m->scap = cap;
	}
	m->stack[m->sp++] = v;
	return 0;
}

/* the bottom of the current frame: the last mark, else the stack's bottom */
static size_t frame_base(const machine *m)
{
	return m->nmarks ? m->marks[m->nmarks - 1] : 0;
}

static pk_value *pop(machine *m)
{
	if (m->sp <= frame_base(m)) {
		fail(m, "stack underflow");
		return NULL;
	}
	return m->stack[--m->sp];
}

static pk_value *top(machine *m)
{
	if (m->sp <= frame_base(m)) {
		fail(m, "stack underflow");
		return NULL;
	}
	return m->stack[m->sp - 1];
}

static int mark(machine *m)
{
	if (m->nmarks == m->mcap) {
		size_t cap = m->mcap ? m->mcap * 2 : 16;
		size_t *s = realloc(m->marks, cap * sizeof *s);
		if (!s)
			return fail(m, "out of memory");
		m->marks = s;
		m->mcap = cap;
	}
	m->marks[m->nmarks++] = m->sp;
	return 0;
}

/* pops to the last mark; the items are stack[*first, sp) until the next push */
static int pop_mark(machine *m, size_t *first)
{
	if (!m->nmarks)
		return fail(m, "no MARK before an opcode that needs one");
	*first = m->marks[--m->nmarks];
	return 0;
}

static int memo_put(machine *m, uint64_t idx)
{
	pk_value *v = top(m);
	if (!v)
		return -1;
	/* Python's pickler numbers memo entries 0, 1, 2, ... as it writes them */
	if (idx > m->nmemo || idx >= PK_MAX_MEMO)
		return fail(m, "memo index out of order (a pickler writes them in sequence)");
	if (idx == m->nmemo) {
		if (m->nmemo == m->memocap) {
			size_t cap = m->memocap ? m->memocap * 2 : 64;
			pk_value **s = realloc(m->memo, cap * sizeof *s);
			if (!s)
				return fail(m, "out of memory");
			m->memo = s;
			m->memocap = cap;
		}
		m->nmemo++;
	}
	m->memo[idx] = v;
	return 0;
}

static int memo_get(machine *m, uint64_t idx)
{
	if (idx >= m->nmemo)
		return fail(m, "memo index never set");
	return push(m, m->memo[idx]);
}

/* ---- reading the opcode arguments ---- */

static int need(machine *m, size_t n)
{
	if (n > m->len - m->pos)
		return fail(m, "truncated: the data end inside an opcode's argument");
	return 0;
}

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* an unsigned little-endian count of n bytes that must fit in what is left */
static int arg_len(machine *m, int n, size_t *out)
{
	if (need(m, (size_t)n))
		return -1;
	uint64_t v = le(m->buf + m->pos, n);
	m->pos += (size_t)n;
	if (v > m->len - m->pos)
		return fail(m, "a length past the end of the data (truncated or corrupt)");
	*out = (size_t)v;
	return 0;
}

static pk_value *new_int(machine *m, int64_t i)
{
	pk_value *v = new_value(m, PK_INT);
	if (v)
		v->i = i;
	return v;
}

/* LONG1/LONG4: little-endian two's complement; int64 when it fits */
static pk_value *new_long(machine *m, const uint8_t *p, size_t n)
{
	int neg = n && (p[n - 1] & 0x80);
	size_t sig = n;
	while (sig > 0 && p[sig - 1] == (neg ? 0xff : 0x00))
		sig--;
	/* fits when the significant bytes and a sign bit fit in 8 bytes */
	if (sig < 8 || (sig == 8 && ((p[7] & 0x80) != 0) == neg)) {
		uint64_t u = neg ? ~0ULL : 0;
		for (size_t i = 0; i < n && i < 8; i++)
			u = (u & ~(0xffULL << (8 * i))) | (uint64_t)p[i] << (8 * i);
		return new_int(m, (int64_t)u);
	}
	return new_bytes(m, PK_BIGINT, p, n);
}

static pk_value *new_str(machine *m, const uint8_t *p, size_t n)
{
	size_t bad;
	if (!util_utf8_valid((const char *)p, n, &bad)) {
		fail(m, "a string that is not UTF-8");
		return NULL;
	}
	return new_bytes(m, PK_STR, p, n);
}

/* a module or attribute name: printable ASCII, as Python identifiers */
static int check_name(machine *m, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return fail(m, "a global's name with a byte that is not printable ASCII");
	if (n == 0 || n > 200)
		return fail(m, "a global's name empty or longer than 200 bytes");
	return 0;
}

/* GLOBAL's two lines "module\nname\n": printable ASCII, as Python identifiers */
static int read_line(machine *m, const char **s, size_t *n)
{
	const uint8_t *start = m->buf + m->pos, *nl = memchr(start, '\n', m->len - m->pos);
	if (!nl)
		return fail(m, "truncated: a GLOBAL name without its newline");
	*s = (const char *)start;
	*n = (size_t)(nl - start);
	m->pos += *n + 1;
	return check_name(m, *s, *n);
}

static pk_value *new_global(machine *m, const char *mod, size_t nm, const char *name, size_t nn)
{
	char buf[512];
	snprintf(buf, sizeof buf, "%.*s.%.*s", (int)nm, mod, (int)nn, name);
	return new_bytes(m, PK_GLOBAL, buf, strlen(buf));
}

static int is_global(const pk_value *v, const char *name)
{
	return v->kind == PK_GLOBAL && !strcmp(v->s, name);
}

/* ---- torch's objects ---- */

static const struct { const char *name; st_dtype dtype; } storage_types[] = {
	{"torch.FloatStorage", ST_F32}, {"torch.HalfStorage", ST_F16}, {"torch.BFloat16Storage", ST_BF16},
	{"torch.DoubleStorage", ST_F64}, {"torch.LongStorage", ST_I64}, {"torch.IntStorage", ST_I32},
	{"torch.ShortStorage", ST_I16}, {"torch.CharStorage", ST_I8}, {"torch.ByteStorage", ST_U8},
	{"torch.BoolStorage", ST_BOOL},
};

static int is_str(const pk_value *v, const char *s)
{
	return v->kind == PK_STR && !strcmp(v->s, s);
}

/* BINPERSID: ('storage', torch.<T>Storage, key, location, numel[, view]) */
static pk_value *persistent_load(machine *m, const pk_value *pid)
{
	if (pid->kind != PK_TUPLE || pid->n < 1 || pid->items[0]->kind != PK_STR) {
		fail(m, "a persistent id that is not a tuple ('storage', ...)");
		return NULL;
	}
	pk_value *const *a = pid->items;
	if (is_str(a[0], "module")) {
		fail(m, "a pickled nn.Module (torch.save(model)): save model.state_dict() instead");
		return NULL;
	}
	if (!is_str(a[0], "storage") || (pid->n != 5 && pid->n != 6)) {
		fail(m, "persistent id ('%s', ...) of %zu items: only ('storage', type, key, location, numel) "
		     "is known", err_esc(a[0]->s), pid->n);
		return NULL;
	}
	int t = -1;
	for (size_t i = 0; i < sizeof storage_types / sizeof *storage_types; i++)
		if (is_global(a[1], storage_types[i].name))
			t = (int)i;
	if (t < 0) {
		fail(m, "storage type %s not supported (float, half, bfloat16, double, long, int, short, "
		     "char, byte, bool)", pk_describe(a[1]));
		return NULL;
	}
	if (a[2]->kind != PK_STR || a[2]->len == 0 || a[2]->len > 64 ||
	    strspn(a[2]->s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_") != a[2]->len) {
		fail(m, "a storage key that is not a short name of letters, digits and '_'");
		return NULL;
	}
	if (a[3]->kind != PK_STR) {
		fail(m, "a storage location that is not a string");
		return NULL;
	}
	size_t es = st_dtype_size(storage_types[t].dtype);
	if (a[4]->kind != PK_INT || a[4]->i < 0 || (uint64_t)a[4]->i > (uint64_t)INT64_MAX / es) {
		fail(m, "a storage size that is not an integer from 0 to 2^63 bytes");
		return NULL;
	}
	if (pid->n == 6 && a[5]->kind != PK_NONE) {
		fail(m, "a storage view (legacy format, torch < 0.4) not supported");
		return NULL;
	}
	pk_value *v = new_value(m, PK_STORAGE);
	if (!v)
		return NULL;
	if (!(v->storage = malloc(sizeof *v->storage))) {
		fail(m, "out of memory");
		return NULL;
	}
	*v->storage = (pk_storage){ storage_types[t].dtype, a[2]->s, a[3]->s, a[4]->i };
	pk_pickle *p = m->p;
	if (p->nstorages == p->storcap) {
		size_t cap = p->storcap ? p->storcap * 2 : 64;
		const pk_value **s = realloc(p->storages, cap * sizeof *s);
		if (!s) {
			fail(m, "out of memory");
			return NULL;
		}
		p->storages = s;
		p->storcap = cap;
	}
	p->storages[p->nstorages++] = v;
	return v;
}

/* a tuple of ndim integers >= 0 into out */
static int int_tuple(machine *m, const pk_value *v, int64_t *out, const char *what)
{
	if (v->kind != PK_TUPLE)
		return fail(m, "a tensor's %s is not a tuple", what);
	if (v->n > ST_MAX_DIMS)
		return fail(m, "a tensor with more than 8 dimensions in its %s", what);
	for (size_t i = 0; i < v->n; i++) {
		if (v->items[i]->kind != PK_INT || v->items[i]->i < 0)
			return fail(m, "a tensor's %s holds something else than integers >= 0", what);
		out[i] = v->items[i]->i;
	}
	return 0;
}

/* torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
 * backward_hooks[, metadata]) */
static pk_value *rebuild_tensor(machine *m, const pk_value *args)
{
	if (args->kind != PK_TUPLE || (args->n != 6 && args->n != 7)) {
		fail(m, "_rebuild_tensor_v2 with arguments that are not a tuple of 6 or 7");
		return NULL;
	}
	pk_value *const *a = args->items;
	pk_tensor t = { 0 };
	if (a[0]->kind != PK_STORAGE) {
		fail(m, "_rebuild_tensor_v2 on %s, not a storage", pk_describe(a[0]));
		return NULL;
	}
	const pk_storage *s = a[0]->storage;
	if (a[1]->kind != PK_INT || a[1]->i < 0) {
		fail(m, "a tensor's storage offset is not an integer >= 0");
		return NULL;
	}
	if (int_tuple(m, a[2], t.shape, "size") || int_tuple(m, a[3], t.stride, "stride"))
		return NULL;
	if (a[2]->n != a[3]->n) {
		fail(m, "a tensor's size and stride differ in length");
		return NULL;
	}
	t.storage = a[0];
	t.offset = a[1]->i;
	t.ndim = (int)a[2]->n;
	/* every element inside the storage: offset + sum (shape-1)*stride < numel */
	uint64_t last = (uint64_t)t.offset, count = 1;
	for (int d = 0; d < t.ndim; d++) {
		if (t.shape[d] == 0)
			count = 0;
		else if (count && __builtin_mul_overflow(count, (uint64_t)t.shape[d], &count))
			count = UINT64_MAX;
	}
	if (count == UINT64_MAX || count > (uint64_t)INT64_MAX / 16) {
		fail(m, "a tensor with more than 2^59 elements");
		return NULL;
	}
	for (int d = 0; count && d < t.ndim; d++) {
		uint64_t span;
		if (__builtin_mul_overflow((uint64_t)(t.shape[d] - 1), (uint64_t)t.stride[d], &span) ||
		    __builtin_add_overflow(last, span, &last)) {
			fail(m, "a tensor's strides reach past 2^64 elements");
			return NULL;
		}
	}
	if (count && last >= (uint64_t)s->numel) {
		fail(m, "a tensor reads element %llu of a storage of %lld", (unsigned long long)last,
		     (long long)s->numel);
		return NULL;
	}
	if (a[4]->kind != PK_BOOL) {
		fail(m, "a tensor's requires_grad is not a boolean");
		return NULL;
	}
	pk_value *v = new_value(m, PK_TENSOR);
	if (!v)
		return NULL;
	if (!(v->tensor = malloc(sizeof t))) {
		fail(m, "out of memory");
		return NULL;
	}
	*v->tensor = t;
	return v;
}

/* REDUCE and NEWOBJ: callable(*args) for the names we know, else an inert object */
static pk_value *call(machine *m, const pk_value *fn, pk_value *args)
{
	if (args->kind != PK_TUPLE) {
		fail(m, "call arguments that are %s, not a tuple", pk_describe(args));
		return NULL;
	}
	if (is_global(fn, "collections.OrderedDict")) {
		if (args->n != 0) {
			fail(m, "%s called with arguments (only the empty call is known)", fn->s);
			return NULL;
		}
		return new_value(m, PK_DICT);
	}
	if (is_global(fn, "torch._utils._rebuild_tensor_v2"))
		return rebuild_tensor(m, args);
	if (is_global(fn, "torch._utils._rebuild_parameter")) {
		/* (data, requires_grad, backward_hooks): the parameter is its data */
		if (args->n != 3 || args->items[0]->kind != PK_TENSOR) {
			fail(m, "_rebuild_parameter without a tensor and two more arguments");
			return NULL;
		}
		return args->items[0];
	}
	const char *name = fn->kind == PK_GLOBAL || fn->kind == PK_OBJECT ? fn->s : pk_describe(fn);
	return new_bytes(m, PK_OBJECT, name, strlen(name));
}

/* ---- the opcodes ---- */

static int op_build(machine *m)
{
	pk_value *state = pop(m), *obj = state ? top(m) : NULL;
	if (!obj)
		return -1;
	/* an OrderedDict's attributes (a state dict's _metadata); an inert object's state */
	if (obj->kind == PK_OBJECT || (obj->kind == PK_DICT && (state->kind == PK_DICT || state->kind == PK_NONE)))
		return 0;
	return fail(m, "BUILD on %s", pk_describe(obj));
}

static int op_setitems(machine *m, size_t first)
{
	pk_value *d = first > frame_base(m) ? m->stack[first - 1] : NULL;
	size_t n = m->sp - first;
	if (!d)
		return fail(m, "SETITEMS without a dict under its mark");
	if (n % 2)
		return fail(m, "SETITEMS with an odd number of items");
	if (d->kind != PK_DICT && d->kind != PK_OBJECT)
		return fail(m, "SETITEM(S) on %s, not a dict", pk_describe(d));
	for (size_t i = first; d->kind == PK_DICT && i < m->sp; i += 2)
		if (set_item(m, d, m->stack[i], m->stack[i + 1]))
			return -1;
	m->sp = first;
	return 0;
}

static int op_appends(machine *m, size_t first)
{
	pk_value *l = first > frame_base(m) ? m->stack[first - 1] : NULL;
	if (!l)
		return fail(m, "APPEND(S) without a list under it");
	if (l->kind != PK_LIST && l->kind != PK_OBJECT)
		return fail(m, "APPEND(S) on %s, not a list", pk_describe(l));
	for (size_t i = first; l->kind == PK_LIST && i < m->sp; i++)
		if (push_item(m, l, m->stack[i]))
			return -1;
	m->sp = first;
	return 0;
}

/* the last n stack items (from first) as a new tuple, replacing them */
static int make_tuple(machine *m, size_t first)
{
	pk_value *t = new_value(m, PK_TUPLE);
	if (!t)
		return -1;
	size_t n = m->sp - first;
	if (n && !(t->items = malloc(n * sizeof *t->items)))
		return fail(m, "out of memory");
	if (n)   /* memcpy from or to NULL is undefined even for 0 bytes */
		memcpy(t->items, m->stack + first, n * sizeof *t->items);
	t->n = t->cap = n;
	m->sp = first;
	return push(m, t);
}

static int tuple_n(machine *m, size_t n)
{
	if (m->sp < frame_base(m) + n)
		return fail(m, "stack underflow");
	return make_tuple(m, m->sp - n);
}

static const char *op_name(uint8_t op)
{
	switch (op) {
	case '(': return "MARK"; case '.': return "STOP"; case '0': return "POP"; case '1': return "POP_MARK";
	case '2': return "DUP"; case 'F': return "FLOAT"; case 'I': return "INT"; case 'J': return "BININT";
	case 'K': return "BININT1"; case 'L': return "LONG"; case 'M': return "BININT2"; case 'N': return "NONE";
	case 'P': return "PERSID"; case 'Q': return "BINPERSID"; case 'R': return "REDUCE";
	case 'S': return "STRING"; case 'T': return "BINSTRING"; case 'U': return "SHORT_BINSTRING";
	case 'V': return "UNICODE"; case 'X': return "BINUNICODE"; case 'a': return "APPEND";
	case 'b': return "BUILD"; case 'c': return "GLOBAL"; case 'd': return "DICT"; case '}': return "EMPTY_DICT";
	case 'e': return "APPENDS"; case 'g': return "GET"; case 'h': return "BINGET"; case 'i': return "INST";
	case 'j': return "LONG_BINGET"; case 'l': return "LIST"; case ']': return "EMPTY_LIST";
	case 'o': return "OBJ"; case 'p': return "PUT"; case 'q': return "BINPUT"; case 'r': return "LONG_BINPUT";
	case 's': return "SETITEM"; case 't': return "TUPLE"; case ')': return "EMPTY_TUPLE";
	case 'u': return "SETITEMS"; case 'G': return "BINFLOAT"; case 0x80: return "PROTO";
	case 0x81: return "NEWOBJ"; case 0x82: return "EXT1"; case 0x83: return "EXT2"; case 0x84: return "EXT4";
	case 0x85: return "TUPLE1"; case 0x86: return "TUPLE2"; case 0x87: return "TUPLE3";
	case 0x88: return "NEWTRUE"; case 0x89: return "NEWFALSE"; case 0x8a: return "LONG1";
	case 0x8b: return "LONG4"; case 'B': return "BINBYTES"; case 'C': return "SHORT_BINBYTES";
	case 0x8c: return "SHORT_BINUNICODE"; case 0x8d: return "BINUNICODE8"; case 0x8e: return "BINBYTES8";
	case 0x8f: return "EMPTY_SET"; case 0x90: return "ADDITEMS"; case 0x91: return "FROZENSET";
	case 0x92: return "NEWOBJ_EX"; case 0x93: return "STACK_GLOBAL"; case 0x94: return "MEMOIZE";
	case 0x95: return "FRAME"; case 0x96: return "BYTEARRAY8"; case 0x97: return "NEXT_BUFFER";
	case 0x98: return "READONLY_BUFFER";
	default: return NULL;
	}
}

static int step(machine *m, uint8_t op)
{
	size_t n, first = 0;
	pk_value *a, *b, *c;
	const char *s1, *s2;
	size_t n1, n2;
	switch (op) {
	case 0x80:   /* PROTO */
		if (need(m, 1))
			return -1;
		if (m->buf[m->pos] < 2 || m->buf[m->pos] > 5)
			return fail(m, "pickle protocol %d not supported (torch.save writes 2)",
				    m->buf[m->pos]);
		m->pos++;
		return 0;
	case 0x95:   /* FRAME: the length of what follows, a hint to buffer it */
		return arg_len(m, 8, &n);
	case '(':
		return mark(m);
	case ')':
		return push(m, new_value(m, PK_TUPLE));
	case ']':
		return push(m, new_value(m, PK_LIST));
	case '}':
		return push(m, new_value(m, PK_DICT));
	case 'N':
		return push(m, new_value(m, PK_NONE));
	case 0x88: case 0x89:
		if (!(a = new_value(m, PK_BOOL)))
			return -1;
		a->i = op == 0x88;
		return push(m, a);
	case 'J':
		if (need(m, 4))
			return -1;
		m->pos += 4;
		return push(m, new_int(m, (int32_t)(uint32_t)le(m->buf + m->pos - 4, 4)));
	case 'K': case 'M':
		n = op == 'K' ? 1 : 2;
		if (need(m, n))
			return -1;
		m->pos += n;
		return push(m, new_int(m, (int64_t)le(m->buf + m->pos - n, (int)n)));
	case 0x8a: case 0x8b:   /* LONG1, LONG4 */
		if (op == 0x8b && need(m, 4) == 0 && (m->buf[m->pos + 3] & 0x80))
			return fail(m, "LONG4 with a negative length");
		if (arg_len(m, op == 0x8a ? 1 : 4, &n))
			return -1;
		m->pos += n;
		return push(m, new_long(m, m->buf + m->pos - n, n));
	case 'G': {
		if (need(m, 8))
			return -1;
		uint64_t u = 0;
		for (int i = 0; i < 8; i++)
			u = u << 8 | m->buf[m->pos + i];
		m->pos += 8;
		if (!(a = new_value(m, PK_FLOAT)))
			return -1;
		memcpy(&a->f, &u, 8);
		return push(m, a);
	}
	case 'X': case 0x8c: case 0x8d:   /* BINUNICODE, SHORT_BINUNICODE, BINUNICODE8 */
		if (arg_len(m, op == 'X' ? 4 : op == 0x8c ? 1 : 8, &n))
			return -1;
		m->pos += n;
		return push(m, new_str(m, m->buf + m->pos - n, n));
	case 'B': case 'C': case 0x8e:   /* BINBYTES, SHORT_BINBYTES, BINBYTES8 */
		if (arg_len(m, op == 'B' ? 4 : op == 'C' ? 1 : 8, &n))
			return -1;
		m->pos += n;
		return push(m, new_bytes(m, PK_BYTES, m->buf + m->pos - n, n));
	case 't':
		return pop_mark(m, &first) || make_tuple(m, first);
	case 0x85: case 0x86: case 0x87:
		return tuple_n(m, (size_t)(op - 0x84));
	case 'a':
		return m->sp <= frame_base(m) ? fail(m, "stack underflow") : op_appends(m, m->sp - 1);
	case 'e':
		return pop_mark(m, &first) || op_appends(m, first);
	case 's':
		return m->sp < frame_base(m) + 2 ? fail(m, "stack underflow")
						  : op_setitems(m, m->sp - 2);
	case 'u':
		return pop_mark(m, &first) || op_setitems(m, first);
	case '0':
		return pop(m) ? 0 : -1;
	case '1':
		if (pop_mark(m, &first))
			return -1;
		m->sp = first;
		return 0;
	case 'c':
		if (read_line(m, &s1, &n1) || read_line(m, &s2, &n2))
			return -1;
		return push(m, new_global(m, s1, n1, s2, n2));
	case 0x93:   /* STACK_GLOBAL: module and name strings */
		if (!(b = pop(m)) || !(a = pop(m)))
			return -1;
		if (a->kind != PK_STR || b->kind != PK_STR)
			return fail(m, "STACK_GLOBAL without two strings");
		if (check_name(m, a->s, a->len) || check_name(m, b->s, b->len))
			return -1;
		return push(m, new_global(m, a->s, a->len, b->s, b->len));
	case 'R': case 0x81:   /* REDUCE, NEWOBJ */
		if (!(b = pop(m)) || !(a = pop(m)))
			return -1;
		return push(m, call(m, a, b));
	case 0x92:   /* NEWOBJ_EX: cls, args, kwargs */
		if (!(c = pop(m)) || !(b = pop(m)) || !(a = pop(m)))
			return -1;
		return push(m, call(m, a, b));
	case 'b':
		return op_build(m);
	case 'Q':
		if (!(a = pop(m)))
			return -1;
		return push(m, persistent_load(m, a));
	case 'q': case 'r':
		n = op == 'q' ? 1 : 4;
		if (need(m, n))
			return -1;
		m->pos += n;
		return memo_put(m, le(m->buf + m->pos - n, (int)n));
	case 0x94:
		return memo_put(m, m->nmemo);
	case 'h': case 'j':
		n = op == 'h' ? 1 : 4;
		if (need(m, n))
			return -1;
		m->pos += n;
		return memo_get(m, le(m->buf + m->pos - n, (int)n));
	default: {
		const char *name = op_name(op);
		char code[8];
		snprintf(code, sizeof code, "0x%02x", op);
		if (name)
			return fail(m, "opcode %s not supported (not written by torch.save)", name);
		return fail(m, "unknown opcode %s (not a pickle, or corrupt)", code);
	}
	}
}

pk_pickle *pk_load(const uint8_t *buf, size_t len, size_t *used, char *err)
{
	machine m = { .buf = buf, .len = len, .err = err };
	int rc = -1;
	if (!(m.p = calloc(1, sizeof *m.p))) {
		err_set(err, "out of memory");
		return NULL;
	}
	for (;;) {
		m.op_at = m.pos;
		if (m.pos >= m.len) {
			fail(&m, "truncated: the data end before the pickle's STOP");
			break;
		}
		uint8_t op = buf[m.pos++];
		if (op == '.') {
			if (m.nmarks)
				fail(&m, "STOP inside a MARK");
			else if (m.sp != 1)
				fail(&m, "STOP with %zu values on the stack (one expected)", m.sp);
			else {
				m.p->root = m.stack[0];
				rc = 0;
			}
			break;
		}
		if (step(&m, op))
			break;
	}
	free(m.stack);
	free(m.marks);
	free(m.memo);
	if (rc) {
		pk_free(m.p);
		return NULL;
	}
	if (used)
		*used = m.pos;
	return m.p;
}

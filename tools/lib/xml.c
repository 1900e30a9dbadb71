/* xml.c: the event parser of xml.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "xml.h"

typedef struct {
	const xml_handler *h;
	void *ctx;
	const char *where;
	xml_path path;
	int capture;   /* depth of the element whose text is gathered; 0: none */
	char text[XML_TEXT_LEN];
	size_t tlen;
} parser;

/* Appends decoded text [p, end) to the gathered text (entities resolved). */
static int add_text(parser *ps, const char *p, const char *end)
{
	while (p < end) {
		char c = *p++;
		if (c == '&') {
			const char *semi = memchr(p, ';', (size_t)(end - p));
			if (!semi)
				return -1;
			size_t l = (size_t)(semi - p);
			long v;
			if (l == 2 && !strncmp(p, "lt", 2)) v = '<';
			else if (l == 2 && !strncmp(p, "gt", 2)) v = '>';
			else if (l == 3 && !strncmp(p, "amp", 3)) v = '&';
			else if (l == 4 && !strncmp(p, "quot", 4)) v = '"';
			else if (l == 4 && !strncmp(p, "apos", 4)) v = '\'';
			else if (l >= 2 && p[0] == '#') {
				char *e;
				v = p[1] == 'x' ? strtol(p + 2, &e, 16) : strtol(p + 1, &e, 10);
				if (e != semi || v <= 0 || v > 126)
					return -1;   /* ASCII only: the texts asked for are names and numbers */
			} else
				return -1;
			c = (char)v;
			p = semi + 1;
		}
		if (ps->tlen + 1 >= sizeof(ps->text))
			return -1;
		ps->text[ps->tlen++] = c;
	}
	ps->text[ps->tlen] = 0;
	return 0;
}

static const char *skip_past(const char *p, const char *end, const char *what)
{
	size_t l = strlen(what);
	for (; p + l <= end; p++)
		if (!memcmp(p, what, l))
			return p + l;
	return NULL;
}

/* The handler's message, behind where. */
static int handler_failed(const parser *ps, const char *why, char *err)
{
	return err_set(err, "%s: %s", ps->where, why);
}

static int bad_text(const parser *ps, char *err)
{
	const xml_path *path = &ps->path;
	return err_set(err, "%s: bad or overlong text in <%s>", ps->where,
		       path->depth ? err_esc(path->name[path->depth - 1]) : "?");
}

static int open_element(parser *ps, const char *tag, int empty, char *err)
{
	char why[ERR_LEN];
	if (ps->path.depth == XML_MAX_DEPTH)
		return err_set(err, "%s: elements nested deeper than %d", ps->where, XML_MAX_DEPTH);
	memcpy(ps->path.name[ps->path.depth++], tag, XML_NAME_LEN);
	int ask = ps->h->open(ps->ctx, &ps->path, empty, why);
	if (ask < 0)
		return handler_failed(ps, why, err);
	if (ask && !ps->capture) {
		ps->capture = ps->path.depth;
		ps->tlen = 0;
		ps->text[0] = 0;
	}
	return 0;
}

static int close_element(parser *ps, char *err)
{
	char why[ERR_LEN];
	const char *text = NULL;
	if (ps->capture == ps->path.depth) {
		text = ps->text;
		ps->capture = 0;
	}
	if (ps->h->close(ps->ctx, &ps->path, text, why))
		return handler_failed(ps, why, err);
	ps->path.depth--;
	return 0;
}

int xml_parse(const char *xml, size_t len, const char *where, const char *root,
	      const xml_handler *h, void *ctx, char *err)
{
	const char *p = xml, *end = xml + len;
	parser state = { .h = h, .ctx = ctx, .where = where }, *ps = &state;
	const xml_path *path = &ps->path;
	int saw_root = 0, rc = 0;
	while (!rc && p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p));
		if (!lt)
			lt = end;
		if (ps->capture && add_text(ps, p, lt)) {
			rc = bad_text(ps, err);
			break;
		}
		if (lt == end)
			break;
		p = lt + 1;
		if (p < end && (*p == '?' || (*p == '!' && p + 2 < end && p[1] == '-' && p[2] == '-'))) {
			if (!(p = skip_past(p, end, *p == '?' ? "?>" : "-->")))
				rc = err_set(err, "%s: unterminated comment or processing instruction", where);
			continue;
		}
		if (p + 8 <= end && !memcmp(p, "![CDATA[", 8)) {
			const char *close = skip_past(p + 8, end, "]]>");
			if (!close) {
				rc = err_set(err, "%s: unterminated CDATA", where);
				continue;
			}
			if (ps->capture) {
				size_t l = (size_t)(close - 3 - (p + 8));
				if (ps->tlen + l + 1 >= sizeof(ps->text)) {
					rc = bad_text(ps, err);
					break;
				}
				memcpy(ps->text + ps->tlen, p + 8, l);
				ps->tlen += l;
				ps->text[ps->tlen] = 0;
			}
			p = close;
			continue;
		}
		if (p < end && *p == '!') {   /* DOCTYPE */
			if (!(p = memchr(p, '>', (size_t)(end - p))))
				rc = err_set(err, "%s: unterminated declaration", where);
			else
				p++;
			continue;
		}
		int closing = p < end && *p == '/';
		p += closing;
		const char *name = p;
		while (p < end && !isspace((unsigned char)*p) && *p != '>' && *p != '/')
			p++;
		size_t nl = (size_t)(p - name);
		char quote = 0;   /* attributes: skip to '>' outside quotes */
		for (; p < end && (quote || *p != '>'); p++)
			if (quote ? *p == quote : (*p == '"' || *p == '\''))
				quote = quote ? 0 : *p;
		if (p >= end || nl == 0) {
			rc = err_set(err, "%s: malformed tag near byte %zu", where, (size_t)(name - xml));
			continue;
		}
		int empty = !closing && p[-1] == '/';
		p++;
		char tag[XML_NAME_LEN];
		snprintf(tag, sizeof(tag), "%.*s", (int)(nl < XML_NAME_LEN - 1 ? nl : XML_NAME_LEN - 1), name);
		if (closing) {
			const char *top = path->depth ? path->name[path->depth - 1] : NULL;
			if (!top || strcmp(top, tag))
				rc = err_set(err, "%s: </%s> does not close <%s>", where, err_esc(tag),
					     top ? err_esc(top) : "nothing");
			else
				rc = close_element(ps, err);
			continue;
		}
		if (path->depth == 0) {
			if (saw_root || (root && strcmp(tag, root))) {
				rc = root ? err_set(err, "%s: root element is <%s>, expected one <%s>", where,
						    err_esc(tag), err_esc(root))
					  : err_set(err, "%s: a second root element <%s>", where, err_esc(tag));
				continue;
			}
			saw_root = 1;
		}
		rc = open_element(ps, tag, empty, err);
		if (!rc && empty)
			rc = close_element(ps, err);
	}
	if (!rc && (!saw_root || path->depth)) {
		if (saw_root)
			rc = err_set(err, "%s: truncated XML (unclosed elements)", where);
		else if (root)
			rc = err_set(err, "%s: no <%s> element", where, err_esc(root));
		else
			rc = err_set(err, "%s: no root element", where);
	}
	return rc;
}

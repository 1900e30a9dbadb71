/* fuzz_xml.c: libFuzzer target for the XML subset parser (xml.h; make fuzz).
 *
 * Each input is one document, parsed four ways:
 *  1. asking for the text of every element: events nest (each close names
 *     the element its open did, at the same depth, never deeper than
 *     XML_MAX_DEPTH), texts fit XML_TEXT_LEN, and an accepted document has
 *     one root and every element closed;
 *  2. asking for no text: what 1 accepts, 2 accepts with the same events
 *     (text decoding may only add refusals);
 *  3. naming the first root as the root: the verdict of 2; naming another
 *     root: refused;
 *  4. a handler that fails at its n-th open: refused with "where: its
 *     message", unless fewer elements open.
 * Every refusal is one line starting with the document's name. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "util.h"
#include "xml.h"
#define FUZZ_TARGET "fuzz_xml"
#include "fuzz.h"

#define WHERE "fuzz.xml"

typedef struct {
	int want_text;      /* 1: ask every element for its text */
	int stop_at;        /* fail at this open (1-based); 0: never */
	int opens, closes, open_now;
	uint64_t trace;     /* hash of the events: names, depths, kinds */
	char root[XML_NAME_LEN];
} run;

static void check_message(const char *err)
{
	check(err[0] != '\0', "failure without a message");
	check(fuzz_one_line(err), "error message spans lines or holds a control character");
	check(!strncmp(err, WHERE ": ", strlen(WHERE) + 2), "error message does not start with the name");
}

static void trace(run *r, const xml_path *p, int kind)
{
	const char *name = p->name[p->depth - 1];
	r->trace = util_fnv1a(r->trace, name, strlen(name) + 1);
	r->trace = util_fnv1a(r->trace, &p->depth, sizeof(p->depth));
	r->trace = util_fnv1a(r->trace, &kind, sizeof(kind));
}

static int on_open(void *ctx, const xml_path *p, int empty, char *err)
{
	run *r = ctx;
	check(p->depth >= 1 && p->depth <= XML_MAX_DEPTH, "depth out of range");
	check(p->depth == r->open_now + 1, "open at the wrong depth");
	check(strlen(p->name[p->depth - 1]) < XML_NAME_LEN, "name not terminated");
	if (p->depth == 1 && r->opens == 0)
		strcpy(r->root, p->name[0]);
	r->opens++;
	r->open_now++;
	(void)empty;
	trace(r, p, 1);
	if (r->stop_at && r->opens == r->stop_at)
		return err_set(err, "stopped at open %d", r->opens);
	return r->want_text;
}

static int on_close(void *ctx, const xml_path *p, const char *text, char *err)
{
	run *r = ctx;
	(void)err;
	check(p->depth == r->open_now, "close at the wrong depth");
	check(!text || r->want_text, "text given where none was asked for");
	check(!text || strlen(text) <= XML_TEXT_LEN - 2, "text longer than XML_TEXT_LEN allows");
	r->closes++;
	r->open_now--;
	trace(r, p, 2);
	return 0;
}

static const xml_handler handler = { on_open, on_close };

static int parse(const uint8_t *data, size_t size, const char *root, run *r, char *err)
{
	r->opens = r->closes = r->open_now = 0;
	r->trace = UTIL_FNV1A_INIT;
	int rc = xml_parse((const char *)data, size, WHERE, root, &handler, r, err);
	check(rc == 0 || rc == -1, "return value neither 0 nor -1");
	if (rc)
		check_message(err);
	else
		check(r->opens == r->closes && r->open_now == 0 && r->opens > 0,
		      "accepted with unclosed elements or no root");
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[ERR_LEN];
	run all = { .want_text = 1 }, none = { 0 };
	int rc_all = parse(data, size, NULL, &all, err);
	int rc_none = parse(data, size, NULL, &none, err);
	check(rc_all != 0 || (rc_none == 0 && all.trace == none.trace),
	      "asking for text changes the events of an accepted document");

	if (none.opens > 0) {
		run named = { 0 };
		int rc = parse(data, size, none.root, &named, err);
		check(rc == rc_none && named.trace == none.trace, "naming the actual root changes the verdict");
		if (strcmp(none.root, "not-the-root")) {
			check(parse(data, size, "not-the-root", &named, err) != 0, "a wrong root accepted");
			check(strstr(err, "not-the-root") != NULL, "the wrong root's refusal does not name it");
		}
	}

	run stop = { .stop_at = (int)(size % 5) + 1 };
	int rc = parse(data, size, NULL, &stop, err);
	if (stop.opens >= stop.stop_at)
		check(rc != 0 && strstr(err, "stopped at open") != NULL, "a handler's failure lost");
	return 0;
}

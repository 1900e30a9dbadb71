/* xml.h: the subset of XML that annotation files use (PASCAL VOC), read as
 * a stream of events; libxml2 is not among the dependencies.
 *
 * Understood: elements, attributes (skipped, quoted values may hold '>'),
 * text with the five named entities and numeric references to ASCII
 * characters, CDATA (taken as it is), comments, processing instructions and
 * a DOCTYPE (skipped). Not checked: that names are valid XML names, that
 * text outside the elements asked for is well formed.
 *
 * Returns -1 with err (char err[ERR_LEN], starting with `where`); never exits. */
#ifndef LS_XML_H
#define LS_XML_H

#include <stddef.h>

enum {
	XML_NAME_LEN = 32,    /* element names are kept, and compared, to 31 bytes */
	XML_TEXT_LEN = 256,   /* an element's text: at most 254 bytes */
	XML_MAX_DEPTH = 64,   /* elements nested deeper are an error */
};

/* The open elements, root first; the current one is name[depth - 1]. */
typedef struct {
	char name[XML_MAX_DEPTH][XML_NAME_LEN];
	int depth;
} xml_path;

typedef struct {
	/* An element opens (empty: written <x/>, its close follows at once).
	 * Returns 1 to receive its text at the close, 0 not, -1 with err to
	 * stop. One element's text is gathered at a time: for the elements
	 * inside it, open is called as usual but its 1 means 0. */
	int (*open)(void *ctx, const xml_path *path, int empty, char *err);
	/* The element path->name[depth - 1] closes. text: everything written
	 * inside it, entities resolved, when open asked for it; else NULL.
	 * 0, or -1 with err to stop. */
	int (*close)(void *ctx, const xml_path *path, const char *text, char *err);
} xml_handler;

/* Parses xml[0..len): exactly one root element, named root unless root is
 * NULL, and every element closed. A handler's error is reported as
 * "where: its message". */
int xml_parse(const char *xml, size_t len, const char *where, const char *root,
	      const xml_handler *h, void *ctx, char *err);

#endif

/*
 * html.h: the pages' HTML. Templates are files under web/templates,
 * compiled in by web/mktemplates.sh; a placeholder {{name}} is filled
 * with either text, always escaped by html_escape (the only escaper), or
 * a fragment that html_render made earlier: raw HTML only ever comes from
 * a template.
 */
#ifndef ISPMAILD_HTML_H
#define ISPMAILD_HTML_H

#include <stddef.h>

#include "buf.h"

/* A file compiled in (webfiles.c, made by web/mktemplates.sh). */
struct web_file {
	const char *name;	/* "layout.html", "style.css" */
	const char *text;
	size_t len;
};
extern const struct web_file web_files[];	/* ends with a NULL name */

/* The file named name, or NULL. */
const struct web_file *web_file_find(const char *name);

/* HTML made from a template: the only thing inserted without escaping. */
struct html {
	struct buf b;
};
#define HTML_INIT { BUF_INIT }
void html_free(struct html *h);

/* One placeholder's value: text (escaped) or a fragment (as it is). */
struct html_var {
	const char *name;
	const char *text;
	const struct html *html;
};
#define HTML_TEXT(n, t) { .name = (n), .text = (t) }
#define HTML_FRAG(n, h) { .name = (n), .html = (h) }

/* Append s to out with & < > " ' as character references. */
void html_escape(struct buf *out, const char *s);

/*
 * Append template name with its placeholders filled from v[n] to out. A
 * template or placeholder that does not exist is a programming error:
 * the process aborts (every template is rendered by the tests).
 */
void html_render(const char *name, const struct html_var *v, size_t n, struct html *out);

#endif

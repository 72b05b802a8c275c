/*
 * html.c: templates filled in, every value through html_escape, the one
 * function in the program that escapes for HTML (the HTML standard's
 * "escaping a string" in attribute and text mode at once).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "log.h"

const struct web_file *web_file_find(const char *name)
{
	for (const struct web_file *f = web_files; f->name != NULL; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

void html_free(struct html *h)
{
	buf_free(&h->b);
}

void html_escape(struct buf *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': buf_appends(out, "&amp;"); break;
		case '<': buf_appends(out, "&lt;"); break;
		case '>': buf_appends(out, "&gt;"); break;
		case '"': buf_appends(out, "&quot;"); break;
		case '\'': buf_appends(out, "&#39;"); break;
		default: buf_appendc(out, *s); break;
		}
	}
}

static const struct html_var *var_find(const struct html_var *v, size_t n,
    const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(v[i].name) == len && memcmp(v[i].name, name, len) == 0)
			return &v[i];
	return NULL;
}

void html_render(const char *name, const struct html_var *v, size_t n, struct html *out)
{
	const struct web_file *f = web_file_find(name);
	const char *p, *end, *open, *close;

	if (f == NULL) {
		log_error("web template=%s result=missing", name);
		abort();
	}
	p = f->text;
	end = f->text + f->len;
	while ((open = strstr(p, "{{")) != NULL && open < end) {
		const struct html_var *var;

		close = strstr(open + 2, "}}");
		if (close == NULL)
			break;
		buf_append(&out->b, p, (size_t)(open - p));
		var = var_find(v, n, open + 2, (size_t)(close - open - 2));
		if (var == NULL) {
			log_error("web template=%s placeholder=\"%.*s\" result=missing", name,
			    (int)(close - open - 2), open + 2);
			abort();
		}
		if (var->html != NULL && var->html->b.len > 0)
			buf_append(&out->b, var->html->b.s, var->html->b.len);
		else if (var->html != NULL)
			;	/* an empty fragment */
		else if (var->text != NULL)
			html_escape(&out->b, var->text);
		p = close + 2;
	}
	buf_append(&out->b, p, (size_t)(end - p));
	buf_appends(&out->b, "");
}

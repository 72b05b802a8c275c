/*
 * test_html.c: the pages' HTML (web/html.c): html_escape, and every
 * compiled-in template rendered with hostile text in each placeholder
 * (none of it comes out raw); the templates hold no script, no inline
 * style and no event handler (the Content-Security-Policy forbids them).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "cutap.h"
#include "html.h"

#define HOSTILE "<script>alert('x')</script>\"&amp;"
#define ESCAPED "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;amp;"

static void test_escape(void)
{
	struct buf b = BUF_INIT;

	html_escape(&b, HOSTILE);
	CU_ASSERT_STRING_EQUAL(b.s, ESCAPED);
	buf_reset(&b);
	html_escape(&b, "plain text, \xe2\x82\xac 10");
	CU_ASSERT_STRING_EQUAL(b.s, "plain text, \xe2\x82\xac 10");
	buf_free(&b);
}

static int is_html(const struct web_file *f)
{
	size_t n = strlen(f->name);

	return n > 5 && strcmp(f->name + n - 5, ".html") == 0;
}

/* Every placeholder of every template filled with HOSTILE: only escaped copies appear. */
static void test_templates_escape(void)
{
	int templates = 0;

	for (const struct web_file *f = web_files; f->name != NULL; f++) {
		struct html_var v[64];
		char names[64][64];
		size_t n = 0;
		struct html out = HTML_INIT;
		const char *p = f->text;

		if (!is_html(f))
			continue;
		templates++;
		while ((p = strstr(p, "{{")) != NULL && n < 64) {
			const char *e = strstr(p, "}}");
			size_t len;

			CU_ASSERT_FATAL(e != NULL);
			len = (size_t)(e - p - 2);
			CU_ASSERT_FATAL(len < sizeof names[0]);
			memcpy(names[n], p + 2, len);
			names[n][len] = '\0';
			v[n].name = names[n];
			v[n].text = HOSTILE;
			v[n].html = NULL;
			n++;
			p = e + 2;
		}
		html_render(f->name, v, n, &out);
		CU_ASSERT(strstr(out.b.s, "<script>") == NULL);
		CU_ASSERT(strstr(out.b.s, "{{") == NULL);
		if (n > 0)
			CU_ASSERT(strstr(out.b.s, ESCAPED) != NULL);
		html_free(&out);
	}
	CU_ASSERT(templates >= 10);
}

/* What the CSP would block must not be in a template in the first place. */
static void test_templates_csp(void)
{
	static const char *banned[] = { "<script", "style=", "<style", " onclick", " onload",
		" onsubmit", "javascript:", "http://", "https://" };

	for (const struct web_file *f = web_files; f->name != NULL; f++) {
		if (!is_html(f))
			continue;
		for (size_t i = 0; i < sizeof banned / sizeof banned[0]; i++) {
			int found = strcasestr(f->text, banned[i]) != NULL;

			if (found)
				fprintf(stderr, "%s: %s\n", f->name, banned[i]);
			CU_ASSERT(!found);
		}
	}
	CU_ASSERT_PTR_NOT_NULL(web_file_find("style.css"));
	CU_ASSERT_PTR_NULL(web_file_find("../style.css"));
}

/* A fragment goes in as it is; text beside it is escaped. */
static void test_fragment(void)
{
	struct html frag = HTML_INIT, out = HTML_INIT;
	const struct html_var fv[] = { HTML_TEXT("kind", "ok"), HTML_TEXT("text", "a<b") };

	html_render("notice.html", fv, 2, &frag);
	CU_ASSERT(strstr(frag.b.s, "<p class=\"notice ok\"") != NULL);
	CU_ASSERT(strstr(frag.b.s, "a&lt;b") != NULL);
	{
		const struct html_var v[] = { HTML_TEXT("heading", "<h>"), HTML_TEXT("text", "t") };

		html_render("error.html", v, 2, &out);
		CU_ASSERT(strstr(out.b.s, "<h2>&lt;h&gt;</h2>") != NULL);
	}
	html_free(&frag);
	html_free(&out);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("html", NULL, NULL);
	CU_add_test(s, "html_escape", test_escape);
	CU_add_test(s, "every template escapes every placeholder", test_templates_escape);
	CU_add_test(s, "no script, inline style or outside URL in a template", test_templates_csp);
	CU_add_test(s, "fragments raw, text escaped", test_fragment);
	return cutap_run();
}

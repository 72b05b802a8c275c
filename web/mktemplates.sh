#!/bin/sh
# mktemplates.sh OUT FILE...: every FILE (the templates under web/templates,
# the static files under web/static) as a C string in one table, so that
# the daemon carries its pages and depends on no install path. Run by make.
set -e
out=$1
shift
{
	echo '/* Made by web/mktemplates.sh from web/templates and web/static: do not edit. */'
	echo '#include "config.h"'
	echo '#include "html.h"'
	i=0
	for f in "$@"; do
		echo "static const char f$i[] = \"\""
		LC_ALL=C sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$/\\n"/' "$f"
		echo ";"
		i=$((i + 1))
	done
	echo 'const struct web_file web_files[] = {'
	i=0
	for f in "$@"; do
		echo "	{ \"$(basename "$f")\", f$i, sizeof f$i - 1 },"
		i=$((i + 1))
	done
	echo '	{ NULL, NULL, 0 }'
	echo '};'
} > "$out.tmp"
mv "$out.tmp" "$out"

/*
 * File-system helpers.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "path.h"
#include "xmalloc.h"

int
path_mkdirs(const char *path, mode_t parent_mode, mode_t mode)
{
	char *p = xstrdup(path);
	int err = 0;

	for (char *s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, parent_mode) != 0 && errno != EEXIST) {
			err = -errno;
			break;
		}
		*s = '/';
	}
	if (err == 0 && mkdir(p, mode) != 0 && errno != EEXIST)
		err = -errno;
	free(p);
	return err;
}

char *
path_candidate(
    const char *dir, const char *name, unsigned i, const char *suffix)
{
	const char *dot = strrchr(name, '.');
	size_t stem;

	if (i == 0)
		return xasprintf("%s/%s%s", dir, name, suffix);
	if (dot == NULL || dot == name)
		dot = name + strlen(name);
	stem = (size_t)(dot - name);
	return xasprintf(
	    "%s/%.*s (%u)%s%s", dir, (int)stem, name, i, dot, suffix);
}

int
path_absolute(char **path)
{
	char cwd[PATH_MAX];
	char *p;

	if ((*path)[0] == '/')
		return 0;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -errno;
	p = xasprintf("%s/%s", cwd, *path);
	free(*path);
	*path = p;
	return 0;
}

/*
 * sasldb.c - the sasldb through a per-thread Berkeley DB handle.
 *
 * Keys are "authid NUL realm NUL property" and values the property's
 * octets, as Cyrus's db_berkeley.c writes them; a login "user@realm" is
 * split at its last "@" (none: the connection's realm).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <db.h>
#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include "sasldb.h"

#define KEY_MAX		1024
#define VALUE_MAX	8192

struct handle {
	DB		*db;
	char		 path[1024];
	dev_t		 dev;
	ino_t		 ino;
	off_t		 size;
	struct timespec	 mtime;
};

static pthread_key_t handle_key;
static pthread_once_t handle_once = PTHREAD_ONCE_INIT;
static unsigned long opens;

static void
handle_free(void *p)
{
	struct handle *h = p;

	if (h->db != NULL)
		h->db->close(h->db, 0);
	free(h);
}

static void
make_key(void)
{
	pthread_key_create(&handle_key, handle_free);
}

/* This thread's handle of path, (re)opened when the file is another. */
static DB *
handle_of(const char *path)
{
	struct handle *h;
	struct stat st;

	pthread_once(&handle_once, make_key);
	if ((h = pthread_getspecific(handle_key)) == NULL) {
		if ((h = calloc(1, sizeof(*h))) == NULL)
			return NULL;
		pthread_setspecific(handle_key, h);
	}
	if (stat(path, &st) == -1)
		return NULL;
	if (h->db != NULL && strcmp(h->path, path) == 0 && h->dev == st.st_dev &&
	    h->ino == st.st_ino && h->size == st.st_size &&
	    h->mtime.tv_sec == st.st_mtim.tv_sec &&
	    h->mtime.tv_nsec == st.st_mtim.tv_nsec)
		return h->db;
	if (h->db != NULL)
		h->db->close(h->db, 0);
	h->db = NULL;
	if (strlen(path) >= sizeof(h->path) || db_create(&h->db, NULL, 0) != 0)
		return NULL;
	if (h->db->open(h->db, NULL, path, NULL, DB_HASH, DB_RDONLY, 0) != 0) {
		h->db->close(h->db, 0);
		h->db = NULL;
		return NULL;
	}
	__atomic_add_fetch(&opens, 1, __ATOMIC_RELAXED);
	snprintf(h->path, sizeof(h->path), "%s", path);
	h->dev = st.st_dev;
	h->ino = st.st_ino;
	h->size = st.st_size;
	h->mtime = st.st_mtim;
	return h->db;
}

static int
get(DB *db, const char *user, const char *realm, const char *prop,
    char *value, size_t *len)
{
	char key[KEY_MAX];
	size_t ul = strlen(user), rl = strlen(realm), pl = strlen(prop);
	DBT k, v;

	if (ul + rl + pl + 2 > sizeof(key))
		return -1;
	memcpy(key, user, ul + 1);
	memcpy(key + ul + 1, realm, rl + 1);
	memcpy(key + ul + rl + 2, prop, pl);
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = key;
	k.size = (u_int32_t)(ul + rl + pl + 2);
	v.data = value;
	v.ulen = VALUE_MAX;
	v.flags = DB_DBT_USERMEM;
	if (db->get(db, NULL, &k, &v, 0) != 0)
		return -1;
	*len = v.size;
	return 0;
}

static int
lookup(void *glob, sasl_server_params_t *sp, unsigned flags, const char *user,
    unsigned ulen)
{
	const struct propval *props, *cur;
	char name[KEY_MAX], *at, value[VALUE_MAX];
	const char *path = NULL, *realm;
	unsigned plen;
	size_t len;
	int tried = 0, found = 0;
	DB *db;

	(void)glob;
	if (sp == NULL || user == NULL || ulen == 0 || ulen >= sizeof(name))
		return SASL_BADPARAM;
	if (sp->utils->getopt(sp->utils->getopt_context, NULL, "sasldb_path",
	    &path, &plen) != SASL_OK || path == NULL)
		return SASL_FAIL;
	memcpy(name, user, ulen);
	name[ulen] = '\0';
	if ((at = strrchr(name, '@')) != NULL) {
		*at = '\0';
		realm = at + 1;
	} else
		realm = sp->user_realm != NULL && sp->user_realm[0] != '\0' ?
		    sp->user_realm : sp->serverFQDN;
	if ((db = handle_of(path)) == NULL)
		return SASL_UNAVAIL;
	if ((props = sp->utils->prop_get(sp->propctx)) == NULL)
		return SASL_OK;
	for (cur = props; cur->name != NULL; cur++) {
		const char *prop = cur->name;

		/* The authid's properties are named "*prop", the authzid's not. */
		if (flags & SASL_AUXPROP_AUTHZID) {
			if (prop[0] == '*')
				continue;
		} else {
			if (prop[0] != '*')
				continue;
			prop++;
		}
		if (cur->values != NULL && !(flags & SASL_AUXPROP_OVERRIDE))
			continue;
		tried++;
		if (get(db, name, realm, prop, value, &len) == -1)
			continue;
		found++;
		if (cur->values != NULL)
			sp->utils->prop_erase(sp->propctx, cur->name);
		sp->utils->prop_set(sp->propctx, cur->name, value, (unsigned)len);
		explicit_bzero(value, len);
	}
	/* Nothing of what was asked: the login does not exist here. */
	return tried > 0 && found == 0 ? SASL_NOUSER : SASL_OK;
}

static sasl_auxprop_plug_t plugin = {
	0, 0, NULL, NULL, lookup, SASLDB_PLUGIN, NULL
};

static int
plugin_init(const sasl_utils_t *utils, int max_version, int *out_version,
    sasl_auxprop_plug_t **plug, const char *plugname)
{
	(void)utils;
	(void)plugname;
	if (max_version < SASL_AUXPROP_PLUG_VERSION)
		return SASL_BADVERS;
	*out_version = SASL_AUXPROP_PLUG_VERSION;
	*plug = &plugin;
	return SASL_OK;
}

int
sasldb_register(void)
{
	return sasl_auxprop_add_plugin(SASLDB_PLUGIN, plugin_init) == SASL_OK ?
	    0 : -1;
}

unsigned long
sasldb_opens(void)
{
	return __atomic_load_n(&opens, __ATOMIC_RELAXED);
}

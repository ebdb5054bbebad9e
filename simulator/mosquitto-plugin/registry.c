/*
 * Devices and service clients, read from the file the simulator writes (and rewrites by rename when a device is
 * registered): lines `D\t{pk}\t{dn}\t{secret}` and `S\t{user}\t{password}`. The file is checked on every CONNECT
 * (one stat) and re-read when it changed, so RegisterDevice needs no signal or reload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alink.h"

struct entry {
	char *a, *b, *c;   /* D: pk, dn, secret; S: user, password, NULL */
	struct entry *next;
};

struct alink_registry {
	struct entry **buckets; /* devices by pk/dn */
	size_t nbuckets;
	struct entry *services;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

static size_t hash2(const char *a, const char *b)
{
	size_t h = 5381;
	for(const char *p = a; *p; p++) h = h * 33 + (unsigned char)*p;
	h = h * 33 + '/';
	for(const char *p = b; *p; p++) h = h * 33 + (unsigned char)*p;
	return h;
}

static char *field(char **cursor)
{
	char *start = *cursor;
	if(!start) return NULL;
	char *tab = strchr(start, '\t');
	if(tab){ *tab = '\0'; *cursor = tab + 1; }else{ *cursor = NULL; }
	return strdup(start);
}

static struct alink_registry *load(const char *path, const struct stat *st)
{
	FILE *f = fopen(path, "r");
	if(!f) return NULL;
	struct alink_registry *reg = calloc(1, sizeof(*reg));
	reg->nbuckets = 4096;
	reg->buckets = calloc(reg->nbuckets, sizeof(*reg->buckets));
	reg->ino = st->st_ino;
	reg->size = st->st_size;
	reg->mtime = st->st_mtim;
	char line[1024];
	while(fgets(line, sizeof(line), f)){
		line[strcspn(line, "\r\n")] = '\0';
		if((line[0] != 'D' && line[0] != 'S') || line[1] != '\t') continue;
		char *cursor = line + 2;
		struct entry *e = calloc(1, sizeof(*e));
		e->a = field(&cursor);
		e->b = field(&cursor);
		if(line[0] == 'D'){
			e->c = field(&cursor);
			if(!e->a || !e->b || !e->c){ free(e->a); free(e->b); free(e->c); free(e); continue; }
			size_t i = hash2(e->a, e->b) % reg->nbuckets;
			e->next = reg->buckets[i];
			reg->buckets[i] = e;
		}else{
			if(!e->a || !e->b){ free(e->a); free(e->b); free(e); continue; }
			e->next = reg->services;
			reg->services = e;
		}
	}
	fclose(f);
	return reg;
}

void registry_free(struct alink_registry *reg)
{
	if(!reg) return;
	for(size_t i = 0; i < reg->nbuckets; i++){
		for(struct entry *e = reg->buckets[i], *n; e; e = n){ n = e->next; free(e->a); free(e->b); free(e->c); free(e); }
	}
	for(struct entry *e = reg->services, *n; e; e = n){ n = e->next; free(e->a); free(e->b); free(e); }
	free(reg->buckets);
	free(reg);
}

void registry_refresh(struct alink_registry **reg, const char *path)
{
	struct stat st;
	if(stat(path, &st) != 0) return;
	const struct alink_registry *r = *reg;
	if(r && r->ino == st.st_ino && r->size == st.st_size && r->mtime.tv_sec == st.st_mtim.tv_sec && r->mtime.tv_nsec == st.st_mtim.tv_nsec) return;
	struct alink_registry *fresh = load(path, &st);
	if(!fresh) return;
	registry_free(*reg);
	*reg = fresh;
}

const char *registry_secret(const struct alink_registry *reg, const char *pk, const char *dn)
{
	if(!reg) return NULL;
	for(struct entry *e = reg->buckets[hash2(pk, dn) % reg->nbuckets]; e; e = e->next){
		if(!strcmp(e->a, pk) && !strcmp(e->b, dn)) return e->c;
	}
	return NULL;
}

bool registry_service(const struct alink_registry *reg, const char *user, const char *password)
{
	if(!reg || !user || !password) return false;
	for(struct entry *e = reg->services; e; e = e->next){
		if(!strcmp(e->a, user) && strlen(e->b) == strlen(password)){
			unsigned char diff = 0;
			for(size_t i = 0; e->b[i]; i++) diff |= (unsigned char)(e->b[i] ^ password[i]);
			if(diff == 0) return true;
		}
	}
	return false;
}

bool registry_is_service_user(const struct alink_registry *reg, const char *user)
{
	if(!reg || !user) return false;
	for(struct entry *e = reg->services; e; e = e->next) if(!strcmp(e->a, user)) return true;
	return false;
}

/*
 * The live connection of each device identity (pk/dn), so that a second login kicks the first (the platform's
 * rule, docs/simulator-brokers.md) and a disconnect of a replaced connection is not reported as the device's.
 * Connections are told apart by their mosquitto context, since a reconnect may reuse the client id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alink.h"

#define NBUCKETS 4096

static struct alink_session *buckets[NBUCKETS];

static size_t bucket(const char *key)
{
	size_t h = 5381;
	for(const char *p = key; *p; p++) h = h * 33 + (unsigned char)*p;
	return h % NBUCKETS;
}

static void make_key(char *out, size_t n, const char *pk, const char *dn)
{
	snprintf(out, n, "%s/%s", pk, dn);
}

struct alink_session *sessions_get(const char *pk, const char *dn)
{
	char key[256];
	make_key(key, sizeof(key), pk, dn);
	for(struct alink_session *s = buckets[bucket(key)]; s; s = s->next) if(!strcmp(s->key, key)) return s;
	return NULL;
}

char *sessions_put(const char *pk, const char *dn, const void *client, const char *client_id, bool ss)
{
	struct alink_session *s = sessions_get(pk, dn);
	char *older = NULL;
	if(s){
		if(s->client != client) older = s->client_id; else free(s->client_id);
	}else{
		char key[256];
		make_key(key, sizeof(key), pk, dn);
		s = calloc(1, sizeof(*s));
		s->key = strdup(key);
		size_t i = bucket(key);
		s->next = buckets[i];
		buckets[i] = s;
	}
	s->client = client;
	s->client_id = strdup(client_id);
	s->ss = ss;
	return older;
}

bool sessions_drop(const char *pk, const char *dn, const void *client)
{
	char key[256];
	make_key(key, sizeof(key), pk, dn);
	struct alink_session **link = &buckets[bucket(key)];
	for(struct alink_session *s = *link; s; link = &s->next, s = s->next){
		if(strcmp(s->key, key)) continue;
		if(s->client != client) return false;
		*link = s->next;
		free(s->key);
		free(s->client_id);
		free(s);
		return true;
	}
	return false;
}

void sessions_free_all(void)
{
	for(size_t i = 0; i < NBUCKETS; i++){
		for(struct alink_session *s = buckets[i], *n; s; s = n){ n = s->next; free(s->key); free(s->client_id); free(s); }
		buckets[i] = NULL;
	}
}

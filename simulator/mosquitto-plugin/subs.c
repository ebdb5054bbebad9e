/*
 * Subscriptions per client id, for mqtt.maxSubscriptions. mosquitto 2.0's mosquitto_client_sub_count() is the
 * size of an array that keeps a hole for every unsubscribe, so it only grows; the plugin counts the filters
 * itself: added on an allowed SUBSCRIBE, removed on UNSUBSCRIBE, cleared when a connection starts clean (a
 * persistent session keeps its subscriptions across reconnects, and so does this count).
 */
#include <stdlib.h>
#include <string.h>

#include "alink.h"

#define NBUCKETS 4096

struct client_subs {
	char *client_id;
	char **filters;
	int count;
	int cap;
	struct client_subs *next;
};

static struct client_subs *buckets[NBUCKETS];

static size_t bucket(const char *key)
{
	size_t h = 5381;
	for(const char *p = key; *p; p++) h = h * 33 + (unsigned char)*p;
	return h % NBUCKETS;
}

static struct client_subs *find(const char *client_id, bool create)
{
	size_t i = bucket(client_id);
	for(struct client_subs *c = buckets[i]; c; c = c->next) if(!strcmp(c->client_id, client_id)) return c;
	if(!create) return NULL;
	struct client_subs *c = calloc(1, sizeof(*c));
	c->client_id = strdup(client_id);
	c->next = buckets[i];
	buckets[i] = c;
	return c;
}

static int index_of(const struct client_subs *c, const char *filter)
{
	for(int i = 0; i < c->count; i++) if(!strcmp(c->filters[i], filter)) return i;
	return -1;
}

void subs_clear(const char *client_id)
{
	struct client_subs *c = find(client_id, false);
	if(!c) return;
	for(int i = 0; i < c->count; i++) free(c->filters[i]);
	c->count = 0;
}

bool subs_add(const char *client_id, const char *filter, int max)
{
	struct client_subs *c = find(client_id, true);
	if(index_of(c, filter) >= 0) return true;
	if(c->count >= max) return false;
	if(c->count == c->cap){
		c->cap = c->cap ? c->cap * 2 : 8;
		c->filters = realloc(c->filters, (size_t)c->cap * sizeof(*c->filters));
	}
	c->filters[c->count++] = strdup(filter);
	return true;
}

void subs_remove(const char *client_id, const char *filter)
{
	struct client_subs *c = find(client_id, false);
	int i = c ? index_of(c, filter) : -1;
	if(i < 0) return;
	free(c->filters[i]);
	c->filters[i] = c->filters[--c->count];
}

void subs_free_all(void)
{
	for(size_t b = 0; b < NBUCKETS; b++){
		for(struct client_subs *c = buckets[b], *n; c; c = n){
			n = c->next;
			for(int i = 0; i < c->count; i++) free(c->filters[i]);
			free(c->filters);
			free(c->client_id);
			free(c);
		}
		buckets[b] = NULL;
	}
}

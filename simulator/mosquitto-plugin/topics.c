/*
 * The platform's topic rules for one device, the same as simulator/mqtt/acl.ts (docs/simulator-brokers.md):
 * `/sys/{pk}/{dn}/...`, `/{pk}/{dn}/user/...`, `/ext/rrpc/{id}/{own topic}`, `/ext/ntp|session|error/{pk}/{dn}/...`,
 * `/shadow/{update|get}/{pk}/{dn}` and `/broadcast/{pk}/...`; wildcards only where the identity is fixed; the
 * OTA topics `/ota/device/{inform|progress|request}/{pk}/{dn}` (published) and `/ota/device/upgrade/{pk}/{dn}`
 * (received). Also which platform publishes go straight to an `_ss=1` device: the simulator's list of
 * server-side subscription templates (simulator/mqtt/server-subscriptions.ts), matched level by level.
 */
#include <stdlib.h>
#include <string.h>

#include "alink.h"

#define MAX_LEVELS 32

struct levels {
	const char *at[MAX_LEVELS];
	size_t len[MAX_LEVELS];
	int n;
};

/* Splits after the leading '/'; false when there is none or too many levels. */
static bool split(const char *topic, struct levels *lv)
{
	if(topic[0] != '/') return false;
	lv->n = 0;
	const char *p = topic + 1;
	for(;;){
		if(lv->n == MAX_LEVELS) return false;
		const char *slash = strchr(p, '/');
		lv->at[lv->n] = p;
		lv->len[lv->n] = slash ? (size_t)(slash - p) : strlen(p);
		lv->n++;
		if(!slash) return true;
		p = slash + 1;
	}
}

static bool is(const struct levels *lv, int i, const char *s)
{
	return i < lv->n && lv->len[i] == strlen(s) && !strncmp(lv->at[i], s, lv->len[i]);
}

static bool has_wild(const struct levels *lv, int i)
{
	return memchr(lv->at[i], '+', lv->len[i]) || memchr(lv->at[i], '#', lv->len[i]);
}

/* Levels from `from` on: at least one; in a filter '#' only last and wildcards only as whole levels. */
static bool rest_ok(const struct levels *lv, int from, bool filter)
{
	if(from >= lv->n) return false;
	for(int i = from; i < lv->n; i++){
		if(!has_wild(lv, i)) continue;
		if(!filter || lv->len[i] != 1) return false;
		if(lv->at[i][0] == '#' && i != lv->n - 1) return false;
	}
	return true;
}

static bool own(const struct levels *lv, int o, const char *pk, const char *dn, bool filter)
{
	if(is(lv, o, "sys")) return is(lv, o + 1, pk) && is(lv, o + 2, dn) && rest_ok(lv, o + 3, filter);
	if(is(lv, o, pk) && is(lv, o + 1, dn) && is(lv, o + 2, "user")) return rest_ok(lv, o + 3, filter);
	if(is(lv, o, "broadcast")) return is(lv, o + 1, pk) && rest_ok(lv, o + 2, filter);
	if(is(lv, o, "shadow")) return (is(lv, o + 1, "update") || is(lv, o + 1, "get")) && is(lv, o + 2, pk) && is(lv, o + 3, dn) && lv->n == o + 4;
	if(is(lv, o, "ext")){
		if(is(lv, o + 1, "ntp") || is(lv, o + 1, "session")) return is(lv, o + 2, pk) && is(lv, o + 3, dn) && rest_ok(lv, o + 4, filter);
		if(is(lv, o + 1, "error")) return is(lv, o + 2, pk) && is(lv, o + 3, dn) && (lv->n == o + 4 || rest_ok(lv, o + 4, filter));
		if(is(lv, o + 1, "rrpc") && o == 0){
			int id = o + 2;
			if(id >= lv->n || lv->len[id] == 0 || is(lv, id, "#")) return false;
			if(has_wild(lv, id) && !(filter && is(lv, id, "+"))) return false;
			return own(lv, id + 1, pk, dn, filter);
		}
	}
	return false;
}

/* `/ota/device/{kind}/{pk}/{dn}` exactly: the device publishes inform, progress and request; it gets upgrade. */
static bool ota(const struct levels *lv, const char *pk, const char *dn, enum topic_use use)
{
	if(lv->n != 5 || !is(lv, 0, "ota") || !is(lv, 1, "device") || !is(lv, 3, pk) || !is(lv, 4, dn)) return false;
	if(use == TOPIC_PUBLISH) return is(lv, 2, "inform") || is(lv, 2, "progress") || is(lv, 2, "request");
	return is(lv, 2, "upgrade");
}

bool topic_own(const char *topic, const char *pk, const char *dn, enum topic_use use)
{
	struct levels lv;
	if(!split(topic, &lv)) return false;
	return own(&lv, 0, pk, dn, use == TOPIC_SUBSCRIBE) || ota(&lv, pk, dn, use);
}

static bool copy_level(const struct levels *lv, int i, char *out, size_t out_len)
{
	if(i >= lv->n || lv->len[i] == 0 || lv->len[i] >= out_len) return false;
	memcpy(out, lv->at[i], lv->len[i]);
	out[lv->len[i]] = '\0';
	return true;
}

/* The server-side subscription templates, split once; `text` owns the level strings. */
static struct ss_template {
	char *text;
	struct levels lv;
} *templates;
static int template_count;

void topics_free(void)
{
	for(int i = 0; i < template_count; i++) free(templates[i].text);
	free(templates);
	templates = NULL;
	template_count = 0;
}

/* A filter with `{pk}` and `{dn}` as whole levels, both before any '#'. */
static bool template_ok(const struct levels *lv)
{
	bool pk = false, dn = false;
	for(int i = 0; i < lv->n; i++){
		if(is(lv, i, "{pk}")) pk = true;
		else if(is(lv, i, "{dn}")) dn = true;
		else if(is(lv, i, "#")) return pk && dn && i == lv->n - 1;
		else if(has_wild(lv, i) && !is(lv, i, "+")) return false;
	}
	return pk && dn;
}

bool topics_set_server_subscriptions(const char *list)
{
	struct ss_template *t = NULL;
	int n = 0;
	const char *p = list;
	for(;;){
		p += strspn(p, " ");
		size_t len = strcspn(p, " ");
		if(len == 0) break;
		struct ss_template *grown = realloc(t, (size_t)(n + 1) * sizeof(*t));
		char *text = grown ? strndup(p, len) : NULL;
		if(grown) t = grown;
		if(!text || !split(text, &t[n].lv) || !template_ok(&t[n].lv)){
			free(text);
			for(int i = 0; i < n; i++) free(t[i].text);
			free(t);
			return false;
		}
		t[n++].text = text;
		p += len;
	}
	topics_free();
	templates = t;
	template_count = n;
	return true;
}

static bool template_matches(const struct levels *t, const struct levels *lv, char *pk, size_t pk_len, char *dn, size_t dn_len)
{
	for(int i = 0; i < t->n; i++){
		/* 'a/#' matches 'a' itself too, as in MQTT. */
		if(is(t, i, "#")) return true;
		if(i >= lv->n) return false;
		if(is(t, i, "{pk}")){ if(!copy_level(lv, i, pk, pk_len)) return false; }
		else if(is(t, i, "{dn}")){ if(!copy_level(lv, i, dn, dn_len)) return false; }
		else if(!is(t, i, "+") && (t->len[i] != lv->len[i] || strncmp(t->at[i], lv->at[i], lv->len[i]))) return false;
	}
	return t->n == lv->n;
}

bool topic_server_subscribed(const char *topic, char *pk, size_t pk_len, char *dn, size_t dn_len)
{
	struct levels lv;
	if(!split(topic, &lv)) return false;
	for(int i = 0; i < template_count; i++){
		if(template_matches(&templates[i].lv, &lv, pk, pk_len, dn, dn_len)) return true;
	}
	return false;
}

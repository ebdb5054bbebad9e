/*
 * The platform's topic rules for one device, the same as simulator/mqtt/acl.ts (docs/simulator-brokers.md):
 * `/sys/{pk}/{dn}/...`, `/{pk}/{dn}/user/...`, `/ext/rrpc/{id}/{own topic}`, `/ext/ntp|session|error/{pk}/{dn}/...`,
 * `/shadow/{update|get}/{pk}/{dn}`, `/ota/device/{inform|upgrade|progress|request}/{pk}/{dn}` and `/broadcast/{pk}/...`;
 * wildcards only where the identity is fixed.
 */
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
	if(is(lv, o, "ota") && o == 0){
		bool kind = is(lv, 2, "inform") || is(lv, 2, "upgrade") || is(lv, 2, "progress") || is(lv, 2, "request");
		return is(lv, 1, "device") && kind && is(lv, 3, pk) && is(lv, 4, dn) && lv->n == 5;
	}
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

bool topic_own(const char *topic, const char *pk, const char *dn, bool filter)
{
	struct levels lv;
	return split(topic, &lv) && own(&lv, 0, pk, dn, filter);
}

static bool copy_level(const struct levels *lv, int i, char *out, size_t out_len)
{
	if(i >= lv->n || lv->len[i] == 0 || lv->len[i] >= out_len) return false;
	memcpy(out, lv->at[i], lv->len[i]);
	out[lv->len[i]] = '\0';
	return true;
}

bool topic_server_subscribed(const char *topic, char *pk, size_t pk_len, char *dn, size_t dn_len)
{
	struct levels lv;
	if(!split(topic, &lv)) return false;
	int o = -1;
	if(is(&lv, 0, "sys") && lv.n >= 4) o = 1;
	else if(is(&lv, 0, "ext") && is(&lv, 1, "rrpc") && is(&lv, 3, "sys") && lv.n >= 7) o = 4;
	else if(is(&lv, 0, "ext") && (is(&lv, 1, "ntp") || is(&lv, 1, "error")) && lv.n >= 4) o = 2;
	if(o < 0) return false;
	return copy_level(&lv, o, pk, pk_len) && copy_level(&lv, o + 1, dn, dn_len);
}

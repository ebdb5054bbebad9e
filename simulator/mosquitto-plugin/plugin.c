/*
 * mosquitto 2.0 plugin entry points: BASIC_AUTH (Alink signature, keepalive minimum, one live connection per
 * device), ACL_CHECK (the platform's topic rules, payload and subscription limits, no device-to-device traffic),
 * MESSAGE (server-side subscriptions: what a service client sends on an `_ss=1` device's topics is delivered to
 * that client directly) and DISCONNECT. Presence goes to the simulator's own MQTT client as a direct publish on
 * PRESENCE_TOPIC. Options (plugin_opt_*): registry, platform_client_id, keepalive_min, max_payload,
 * max_subscriptions, server_subscriptions (the templates of simulator/mqtt/server-subscriptions.ts). docs/simulator-brokers.md explains the design.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "alink.h"

#define PRESENCE_TOPIC "$alink-sim/presence"
/* The simulator's sub-device sessions: "+\t{gwpk}/{gwdn}\t{subpk}/{subdn}" on login, "-\t..." on logout; and
 * "!\t{pk}/{dn}": end that device's live connection (DeleteDevice, DisableThing). */
#define PROXY_TOPIC "alink-sim/proxy"

/* Sub-devices logged in through a gateway: the gateway may use their topics while the entry lasts. */
struct proxy {
	char gw[260];
	char pk[128], dn[128];
	struct proxy *next;
};
static struct proxy *proxies;

static mosquitto_plugin_id_t *plugin_id;
static struct alink_registry *registry;
static char *registry_path;
static char *platform_client_id;
static int keepalive_min = 30;
static long max_payload = 262144;
static int max_subscriptions = 100;

/* The message being routed right now: ACL READ checks run synchronously after MESSAGE for QoS 0 and 1. */
static struct {
	const void *payload;
	uint32_t payloadlen;
	char topic[1024];
	bool service;
	const void *client;
	bool valid;
} routing;

static void json_string(char *out, size_t n, const char *s)
{
	size_t o = 0;
	if(n < 3) return;
	out[o++] = '"';
	for(const unsigned char *p = (const unsigned char *)s; *p && o + 8 < n; p++){
		if(*p == '"' || *p == '\\'){ out[o++] = '\\'; out[o++] = (char)*p; }
		else if(*p < 0x20){ o += (size_t)snprintf(out + o, n - o, "\\u%04x", *p); }
		else out[o++] = (char)*p;
	}
	out[o++] = '"';
	out[o] = '\0';
}

static void presence(const char *event, const char *pk, const char *dn, const char *client_id, int keepalive)
{
	if(!platform_client_id) return;
	char jpk[300], jdn[300], jcid[600], body[1400];
	json_string(jpk, sizeof(jpk), pk);
	json_string(jdn, sizeof(jdn), dn);
	json_string(jcid, sizeof(jcid), client_id ? client_id : "");
	int n = snprintf(body, sizeof(body), "{\"event\":\"%s\",\"productKey\":%s,\"deviceName\":%s,\"clientId\":%s,\"keepalive\":%d}", event, jpk, jdn, jcid, keepalive);
	if(n > 0 && (size_t)n < sizeof(body)) mosquitto_broker_publish_copy(platform_client_id, PRESENCE_TOPIC, n, body, 1, false, NULL);
}

static void proxy_drop(const char *gw, const char *pk, const char *dn)
{
	for(struct proxy **p = &proxies; *p;){
		struct proxy *e = *p;
		if(!strcmp(e->gw, gw) && (!pk || (!strcmp(e->pk, pk) && !strcmp(e->dn, dn)))){ *p = e->next; free(e); }
		else p = &e->next;
	}
}

/* The platform ended a device: its connection goes (the registry file no longer lets it back in). */
static void kick(const char *id)
{
	char pk[128], dn[128];
	const char *slash = strchr(id, '/');
	if(!slash || (size_t)(slash - id) >= sizeof(pk) || strlen(slash + 1) >= sizeof(dn)) return;
	snprintf(pk, sizeof(pk), "%.*s", (int)(slash - id), id);
	snprintf(dn, sizeof(dn), "%s", slash + 1);
	struct alink_session *s = sessions_get(pk, dn);
	if(s) mosquitto_kick_client_by_clientid(s->client_id, false);
}

static void proxy_control(const char *payload, uint32_t len)
{
	char buf[800], gw[260], sub[260];
	if(len >= sizeof(buf)) return;
	memcpy(buf, payload, len);
	buf[len] = '\0';
	if(buf[0] == '!' && buf[1] == '\t'){ kick(buf + 2); return; }
	if(sscanf(buf, "%*c\t%259[^\t]\t%259s", gw, sub) != 2) return;
	char *slash = strchr(sub, '/');
	if(!slash || strlen(slash + 1) >= 128 || (size_t)(slash - sub) >= 128) return;
	*slash = '\0';
	for(struct proxy *e = proxies; e; e = e->next) if(!strcmp(e->pk, sub) && !strcmp(e->dn, slash + 1)){ proxy_drop(e->gw, sub, slash + 1); break; }
	if(buf[0] != '+') return;
	struct proxy *e = calloc(1, sizeof(*e));
	snprintf(e->gw, sizeof(e->gw), "%s", gw);
	snprintf(e->pk, sizeof(e->pk), "%s", sub);
	snprintf(e->dn, sizeof(e->dn), "%s", slash + 1);
	e->next = proxies;
	proxies = e;
}

/* The device's own topic, or one of a sub-device logged in through it (docs/protocol/gateway-platform.md). */
static bool allowed(const char *topic, const char *pk, const char *dn, enum topic_use use)
{
	if(topic_own(topic, pk, dn, use)) return true;
	char gw[260];
	snprintf(gw, sizeof(gw), "%s/%s", pk, dn);
	for(struct proxy *e = proxies; e; e = e->next) if(!strcmp(e->gw, gw) && topic_own(topic, e->pk, e->dn, use)) return true;
	return false;
}

static bool is_service(const struct mosquitto *client)
{
	return registry_is_service_user(registry, mosquitto_client_username(client));
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
	(void)event; (void)userdata;
	struct mosquitto_evt_basic_auth *ev = event_data;
	registry_refresh(&registry, registry_path);
	if(registry_service(registry, ev->username, ev->password)) return MOSQ_ERR_SUCCESS;
	const char *client_id = mosquitto_client_id(ev->client);
	struct alink_client_id cid;
	const char *why = client_id ? parse_client_id(client_id, &cid) : "no clientId";
	char pk[128], dn[128];
	if(!why && mosquitto_client_keepalive(ev->client) < keepalive_min) why = "keepalive below the minimum";
	if(!why && !split_username(ev->username, dn, sizeof(dn), pk, sizeof(pk))) why = "username: expected {deviceName}&{productKey}";
	const char *secret = why ? NULL : registry_secret(registry, pk, dn);
	if(!why && !secret) why = "no such device";
	if(!why && (!ev->password || !password_verifies(&cid, pk, dn, secret, ev->password))) why = "password does not verify";
	if(why){
		mosquitto_log_printf(MOSQ_LOG_NOTICE, "alink: refused %s: %s", client_id ? client_id : "?", why);
		return MOSQ_ERR_AUTH;
	}
	if(mosquitto_client_clean_session(ev->client)) subs_clear(client_id);
	char *older = sessions_put(pk, dn, ev->client, client_id, cid.ss);
	if(older){
		/* The same client id is taken over by mosquitto itself; another one is the platform's duplicate login. */
		if(strcmp(older, client_id)) mosquitto_kick_client_by_clientid(older, false);
		free(older);
	}
	presence("connect", pk, dn, client_id, mosquitto_client_keepalive(ev->client));
	return MOSQ_ERR_SUCCESS;
}

/* Topics a device publishes (never delivered to a device): posts, replies, RRPC answers, NTP requests, OTA pulls
 * and block requests (the `/ota/device/...` ones the device publishes are never TOPIC_RECEIVE in topics.c). */
static bool upstream_kind(const char *topic)
{
	size_t n = strlen(topic);
#define ENDS(s) (n >= sizeof(s) - 1 && !strcmp(topic + n - (sizeof(s) - 1), s))
	if(!strncmp(topic, "/sys/", 5)){
		if(ENDS("/post") || ENDS("/thing/ota/firmware/get") || ENDS("/thing/file/download")) return true;
		return (strstr(topic, "/thing/service/") && ENDS("_reply")) || strstr(topic, "/rrpc/response/") != NULL;
	}
	if(!strncmp(topic, "/ext/ntp/", 9)) return ENDS("/request");
	return false;
#undef ENDS
}

/* Whose allowance a filter counts against: the device's own, or that of the sub-device it proxies for. */
static void subs_owner(const char *client_id, const char *topic, const char *pk, const char *dn, char *key, size_t len)
{
	snprintf(key, len, "%s", client_id);
	if(topic_own(topic, pk, dn, TOPIC_SUBSCRIBE)) return;
	char gw[260];
	snprintf(gw, sizeof(gw), "%s/%s", pk, dn);
	for(struct proxy *e = proxies; e; e = e->next){
		if(!strcmp(e->gw, gw) && topic_own(topic, e->pk, e->dn, TOPIC_SUBSCRIBE)){
			snprintf(key, len, "%s|%s/%s", client_id, e->pk, e->dn);
			return;
		}
	}
}

static int acl_read(const struct mosquitto_evt_acl_check *ev, const char *pk, const char *dn)
{
	if(!allowed(ev->topic, pk, dn, TOPIC_RECEIVE)) return MOSQ_ERR_ACL_DENIED;
	char tpk[128], tdn[128];
	struct alink_session *s = sessions_get(pk, dn);
	/* An _ss=1 client gets these topics directly (on_message), not through its own subscriptions: no duplicates. */
	if(s && s->client == ev->client && s->ss && topic_server_subscribed(ev->topic, tpk, sizeof(tpk), tdn, sizeof(tdn))) return MOSQ_ERR_ACL_DENIED;
	bool known = routing.valid && routing.payload == ev->payload && routing.payloadlen == ev->payloadlen && !strcmp(routing.topic, ev->topic);
	/* Devices never receive each other's publishes, nor their own (docs/simulator-brokers.md). */
	if(known) return routing.service ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
	return upstream_kind(ev->topic) ? MOSQ_ERR_ACL_DENIED : MOSQ_ERR_SUCCESS;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
	(void)event; (void)userdata;
	struct mosquitto_evt_acl_check *ev = event_data;
	if(is_service(ev->client)) return MOSQ_ERR_SUCCESS;
	char pk[128], dn[128], key[600];
	const char *client_id = mosquitto_client_id(ev->client);
	if(!client_id || !split_username(mosquitto_client_username(ev->client), dn, sizeof(dn), pk, sizeof(pk))) return MOSQ_ERR_ACL_DENIED;
	switch(ev->access){
		case MOSQ_ACL_SUBSCRIBE:
			if(ev->qos > 1 || !allowed(ev->topic, pk, dn, TOPIC_SUBSCRIBE)) return MOSQ_ERR_ACL_DENIED;
			subs_owner(client_id, ev->topic, pk, dn, key, sizeof(key));
			return subs_add(key, ev->topic, max_subscriptions) ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
		case MOSQ_ACL_UNSUBSCRIBE:
			subs_owner(client_id, ev->topic, pk, dn, key, sizeof(key));
			subs_remove(key, ev->topic);
			return MOSQ_ERR_SUCCESS;
		case MOSQ_ACL_WRITE:
			if(ev->qos > 1 || (long)ev->payloadlen > max_payload || !allowed(ev->topic, pk, dn, TOPIC_PUBLISH)) {
				mosquitto_log_printf(MOSQ_LOG_NOTICE, "alink: publish refused: %s on %s", client_id, ev->topic);
				return MOSQ_ERR_ACL_DENIED;
			}
			return MOSQ_ERR_SUCCESS;
		case MOSQ_ACL_READ:
			return acl_read(ev, pk, dn);
		default:
			return MOSQ_ERR_ACL_DENIED;
	}
}

static int on_message(int event, void *event_data, void *userdata)
{
	(void)event; (void)userdata;
	struct mosquitto_evt_message *ev = event_data;
	routing.valid = strlen(ev->topic) < sizeof(routing.topic);
	if(routing.valid) strcpy(routing.topic, ev->topic);
	routing.payload = ev->payload;
	routing.payloadlen = ev->payloadlen;
	routing.client = ev->client;
	routing.service = is_service(ev->client);
	if(routing.service && !strcmp(ev->topic, PROXY_TOPIC)){ proxy_control(ev->payload, ev->payloadlen); return MOSQ_ERR_SUCCESS; }
	char pk[128], dn[128];
	if(!routing.service || !topic_server_subscribed(ev->topic, pk, sizeof(pk), dn, sizeof(dn))) return MOSQ_ERR_SUCCESS;
	struct alink_session *s = sessions_get(pk, dn);
	if(!s || !s->ss) return MOSQ_ERR_SUCCESS;
	mosquitto_property *props = NULL;
	if(ev->properties) mosquitto_property_copy_all(&props, ev->properties);
	if(mosquitto_broker_publish_copy(s->client_id, ev->topic, (int)ev->payloadlen, ev->payload, ev->qos, false, props) != MOSQ_ERR_SUCCESS) {
		mosquitto_property_free_all(&props);
	}
	return MOSQ_ERR_SUCCESS;
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
	(void)event; (void)userdata;
	struct mosquitto_evt_disconnect *ev = event_data;
	char pk[128], dn[128];
	if(is_service(ev->client) || !split_username(mosquitto_client_username(ev->client), dn, sizeof(dn), pk, sizeof(pk))) return MOSQ_ERR_SUCCESS;
	/* Only a connection the plugin accepted is a session; a refused one with a device's username is not. */
	if(sessions_drop(pk, dn, ev->client)){
		char gw[260];
		snprintf(gw, sizeof(gw), "%s/%s", pk, dn);
		proxy_drop(gw, NULL, NULL);
		presence("disconnect", pk, dn, mosquitto_client_id(ev->client), 0);
	}
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for(int i = 0; i < supported_version_count; i++) if(supported_versions[i] == 5) return 5;
	return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata, struct mosquitto_opt *opts, int opt_count)
{
	(void)userdata;
	plugin_id = identifier;
	for(int i = 0; i < opt_count; i++){
		if(!strcmp(opts[i].key, "registry")) registry_path = strdup(opts[i].value);
		else if(!strcmp(opts[i].key, "platform_client_id")) platform_client_id = strdup(opts[i].value);
		else if(!strcmp(opts[i].key, "keepalive_min")) keepalive_min = atoi(opts[i].value);
		else if(!strcmp(opts[i].key, "max_payload")) max_payload = atol(opts[i].value);
		else if(!strcmp(opts[i].key, "max_subscriptions")) max_subscriptions = atoi(opts[i].value);
		else if(!strcmp(opts[i].key, "server_subscriptions") && !topics_set_server_subscriptions(opts[i].value)){
			mosquitto_log_printf(MOSQ_LOG_ERR, "alink: plugin_opt_server_subscriptions: malformed template in \"%s\"", opts[i].value);
			return MOSQ_ERR_INVAL;
		}
	}
	if(!registry_path){
		mosquitto_log_printf(MOSQ_LOG_ERR, "alink: plugin_opt_registry is required");
		return MOSQ_ERR_INVAL;
	}
	registry_refresh(&registry, registry_path);
	mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL);
	mosquitto_callback_register(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL);
	mosquitto_callback_register(plugin_id, MOSQ_EVT_MESSAGE, on_message, NULL, NULL);
	mosquitto_callback_register(plugin_id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL, NULL);
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts, int opt_count)
{
	(void)userdata; (void)opts; (void)opt_count;
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_MESSAGE, on_message, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL);
	registry_free(registry);
	registry = NULL;
	sessions_free_all();
	subs_free_all();
	topics_free();
	while(proxies){ struct proxy *n = proxies->next; free(proxies); proxies = n; }
	free(registry_path);
	free(platform_client_id);
	registry_path = platform_client_id = NULL;
	return MOSQ_ERR_SUCCESS;
}

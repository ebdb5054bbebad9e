/*
 * The simulator's mosquitto 2.0 plugin: Alink device authentication, the platform's topic rules, one live
 * connection per device, presence reported to the simulator, and server-side subscriptions for `_ss=1` clients.
 * See docs/simulator-brokers.md (managed mode) for what it does and why; docs/protocol/sdk-compat.md for the
 * protocol facts.
 */
#ifndef ALINK_H
#define ALINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define ALINK_MAX_CID 64

/* ---- registry.c: devices and service clients, read from the file the simulator writes ---------------------- */

struct alink_registry;

/* Re-reads the file when it changed (inode, size or mtime); keeps the old contents if it cannot be read. */
void registry_refresh(struct alink_registry **reg, const char *path);
/* The device's secret, or NULL. */
const char *registry_secret(const struct alink_registry *reg, const char *pk, const char *dn);
/* True when user/password is a service client (the platform or a configured stand-in). */
bool registry_service(const struct alink_registry *reg, const char *user, const char *password);
/* True when `user` names a service client (password not checked: it authenticated already). */
bool registry_is_service_user(const struct alink_registry *reg, const char *user);
void registry_free(struct alink_registry *reg);

/* ---- sessions.c: the live connection of each device identity ----------------------------------------------- */

struct alink_session {
	char *key;           /* "pk/dn" */
	const void *client;  /* the mosquitto context of the live connection */
	char *client_id;
	bool ss;             /* clientId carried _ss=1: the platform subscribes for it */
	struct alink_session *next;
};

struct alink_session *sessions_get(const char *pk, const char *dn);
/* Makes `client` the identity's live connection; returns the replaced session's client id (caller frees) or NULL. */
char *sessions_put(const char *pk, const char *dn, const void *client, const char *client_id, bool ss);
/* Forgets the identity if `client` is its live connection; true when it was. */
bool sessions_drop(const char *pk, const char *dn, const void *client);
void sessions_free_all(void);

/* ---- subs.c: subscriptions per client id, for the subscription limit --------------------------------------- */

void subs_clear(const char *client_id);
/* Adds the filter (a filter already there counts once); false when that would exceed `max`. */
bool subs_add(const char *client_id, const char *filter, int max);
void subs_remove(const char *client_id, const char *filter);
void subs_free_all(void);

/* ---- topics.c: the platform's topic rules ------------------------------------------------------------------ */

enum topic_use {
	TOPIC_PUBLISH,    /* a device publishes on the topic */
	TOPIC_RECEIVE,    /* a message on the topic is delivered to the device */
	TOPIC_SUBSCRIBE,  /* the device subscribes the filter */
};

/* A device's own topic or filter for that use (the `/ota/device/...` topics have a direction, the others not). */
bool topic_own(const char *topic, const char *pk, const char *dn, enum topic_use use);
/* Takes the server-side subscription templates (space-separated filters with the whole levels `{pk}` and `{dn}`
 * before any '#', from the simulator's SERVER_SUBSCRIPTION_TEMPLATES); false with nothing changed when one is
 * malformed. */
bool topics_set_server_subscriptions(const char *templates);
/* The device a platform publish on `topic` is for when that topic is one the platform subscribes `_ss=1` clients
 * to: writes pk and dn (NUL-terminated, non-empty) into the buffers; false when no template matches. */
bool topic_server_subscribed(const char *topic, char *pk, size_t pk_len, char *dn, size_t dn_len);
void topics_free(void);

/* ---- sign.c: the Alink CONNECT check ----------------------------------------------------------------------- */

struct alink_client_id {
	char cid[ALINK_MAX_CID + 1];
	char signmethod[20];   /* normalised: hmacmd5 | hmacsha1 | hmacsha256 */
	char timestamp[32];
	bool has_timestamp;
	bool ss;
	int ext;
};

/* Parses `{cid}|k=v,...|`; NULL on success, else the reason. */
const char *parse_client_id(const char *client_id, struct alink_client_id *out);
/* Splits `{dn}&{pk}` in place-free copies; false when malformed. */
bool split_username(const char *username, char *dn, size_t dn_len, char *pk, size_t pk_len);
/* True when `password` is the hex HMAC (any case) of one of the signed-content variants. */
bool password_verifies(const struct alink_client_id *id, const char *pk, const char *dn, const char *secret, const char *password);

#endif

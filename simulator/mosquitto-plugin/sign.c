/*
 * The Alink CONNECT check (docs/protocol/sdk-compat.md): clientId `{cid}|securemode=..,signmethod=..,timestamp=..|`,
 * username `{dn}&{pk}`, password = hex HMAC (hmacmd5 | hmacsha1 | hmacsha256, any spelling, any hex case) of
 * `clientId{cid}deviceName{dn}productKey{pk}timestamp{ts}`, where clientId and timestamp may be left out.
 * The same rules as simulator/mqtt/auth.ts, which the embedded broker uses.
 */
#include <ctype.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
#include <openssl/core_names.h>
#include <openssl/params.h>
#endif

#include "alink.h"

static bool normalise_signmethod(const char *v, size_t n, char *out, size_t out_len)
{
	char low[12];
	if(n == 0 || n >= sizeof(low)) return false;
	for(size_t i = 0; i < n; i++) low[i] = (char)tolower((unsigned char)v[i]);
	low[n] = '\0';
	const char *name = strncmp(low, "hmac", 4) == 0 ? low + 4 : low;
	if(strcmp(name, "md5") && strcmp(name, "sha1") && strcmp(name, "sha256")) return false;
	snprintf(out, out_len, "hmac%s", name);
	return true;
}

const char *parse_client_id(const char *client_id, struct alink_client_id *out)
{
	memset(out, 0, sizeof(*out));
	strcpy(out->signmethod, "hmacmd5"); /* the documented default when signmethod is absent */
	const char *bar = strchr(client_id, '|');
	size_t len = strlen(client_id);
	if(!bar || len < 2 || client_id[len - 1] != '|' || bar == client_id + len - 1) return "clientId: expected {cid}|securemode=..,signmethod=..,timestamp=..|";
	size_t cid_len = (size_t)(bar - client_id);
	if(cid_len > ALINK_MAX_CID) return "clientId: cid longer than 64 characters";
	memcpy(out->cid, client_id, cid_len);
	out->cid[cid_len] = '\0';
	const char *p = bar + 1;
	const char *end = client_id + len - 1;
	/* A key given twice counts with its last value, as in simulator/mqtt/auth.ts. */
	const char *secure = NULL, *method = NULL;
	size_t secure_len = 0, method_len = 0;
	while(p < end){
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end;
		if(stop == p){ p = stop + 1; continue; }
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		if(!eq || eq == p) return "clientId: expected k=v parameters between the bars";
		size_t klen = (size_t)(eq - p);
		const char *v = eq + 1;
		size_t vlen = (size_t)(stop - v);
		if(klen == 10 && !strncmp(p, "securemode", klen)){
			secure = v;
			secure_len = vlen;
		}else if(klen == 10 && !strncmp(p, "signmethod", klen)){
			method = v;
			method_len = vlen;
		}else if(klen == 9 && !strncmp(p, "timestamp", klen)){
			if(vlen >= sizeof(out->timestamp)) return "clientId timestamp: too long";
			memcpy(out->timestamp, v, vlen);
			out->timestamp[vlen] = '\0';
			out->has_timestamp = true;
		}else if(klen == 3 && !strncmp(p, "_ss", klen)){
			out->ss = vlen == 1 && v[0] == '1';
		}else if(klen == 3 && !strncmp(p, "ext", klen)){
			char num[12] = {0};
			if(vlen < sizeof(num)) memcpy(num, v, vlen);
			out->ext = atoi(num);
		}
		p = stop + 1;
	}
	if(secure && !(secure_len == 1 && (secure[0] == '2' || secure[0] == '3'))) return "clientId securemode: expected 2 or 3";
	if(method && !normalise_signmethod(method, method_len, out->signmethod, sizeof(out->signmethod))) return "clientId signmethod: expected hmacmd5, hmacsha1 or hmacsha256";
	return NULL;
}

bool split_username(const char *username, char *dn, size_t dn_len, char *pk, size_t pk_len)
{
	const char *amp = username ? strchr(username, '&') : NULL;
	if(!amp || amp == username || amp[1] == '\0') return false;
	size_t n = (size_t)(amp - username);
	if(n >= dn_len || strlen(amp + 1) >= pk_len) return false;
	memcpy(dn, username, n);
	dn[n] = '\0';
	strcpy(pk, amp + 1);
	return true;
}

static bool hex_equal_ci(const unsigned char *mac, unsigned int mac_len, const char *given)
{
	static const char digits[] = "0123456789abcdef";
	if(strlen(given) != (size_t)mac_len * 2) return false;
	unsigned char diff = 0;
	for(unsigned int i = 0; i < mac_len; i++){
		diff |= (unsigned char)(digits[mac[i] >> 4] ^ tolower((unsigned char)given[2 * i]));
		diff |= (unsigned char)(digits[mac[i] & 15] ^ tolower((unsigned char)given[2 * i + 1]));
	}
	return diff == 0;
}

enum { MD_MD5, MD_SHA1, MD_SHA256 };

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
/*
 * OpenSSL 3's one-shot HMAC() fetches the MAC and its digest from the providers on every call; that was about
 * two thirds of the instructions the plugin added to a CONNECT (callgrind, 400 CONNECTs; bench:sim). One HMAC
 * context per digest, made on first use and given the device's key on every check, fetches once. The broker is
 * single-threaded, so the contexts need no lock.
 */
static bool hmac(int md, const char *key, const unsigned char *msg, size_t len, unsigned char *out, unsigned int *out_len)
{
	static EVP_MAC *mac;
	static EVP_MAC_CTX *ctx[3];
	static const char *const names[3] = { "MD5", "SHA1", "SHA256" };
	size_t key_len = strlen(key);
	if(key_len == 0){
		/* EVP_MAC_init takes an empty key as "keep the previous one": the one-shot call for that rare case. */
		return HMAC(md == MD_SHA256 ? EVP_sha256() : md == MD_SHA1 ? EVP_sha1() : EVP_md5(), key, 0, msg, len, out, out_len) != NULL;
	}
	if(!ctx[md]){
		if(!mac) mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		if(!mac) return false;
		EVP_MAC_CTX *c = EVP_MAC_CTX_new(mac);
		OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)names[md], 0), OSSL_PARAM_construct_end() };
		if(!c || !EVP_MAC_CTX_set_params(c, params)){
			EVP_MAC_CTX_free(c);
			return false;
		}
		ctx[md] = c;
	}
	size_t n = 0;
	if(!EVP_MAC_init(ctx[md], (const unsigned char *)key, key_len, NULL) || !EVP_MAC_update(ctx[md], msg, len) || !EVP_MAC_final(ctx[md], out, &n, EVP_MAX_MD_SIZE)) return false;
	*out_len = (unsigned int)n;
	return true;
}
#else
static bool hmac(int md, const char *key, const unsigned char *msg, size_t len, unsigned char *out, unsigned int *out_len)
{
	return HMAC(md == MD_SHA256 ? EVP_sha256() : md == MD_SHA1 ? EVP_sha1() : EVP_md5(), key, (int)strlen(key), msg, len, out, out_len) != NULL;
}
#endif

bool password_verifies(const struct alink_client_id *id, const char *pk, const char *dn, const char *secret, const char *password)
{
	int md = !strcmp(id->signmethod, "hmacsha256") ? MD_SHA256 : !strcmp(id->signmethod, "hmacsha1") ? MD_SHA1 : MD_MD5;
	char content[512];
	for(int variant = 0; variant < 4; variant++){
		bool with_cid = variant == 0 || variant == 2;
		bool with_ts = (variant == 0 || variant == 1) && id->has_timestamp;
		if((variant == 1 || variant == 3) && with_cid) continue;
		int n = snprintf(content, sizeof(content), "%s%s%s%s%s%s%s",
				with_cid ? "clientId" : "", with_cid ? id->cid : "",
				"deviceName", dn, "productKey", pk, with_ts ? "timestamp" : "");
		if(n < 0 || (size_t)n >= sizeof(content)) return false;
		if(with_ts){
			if((size_t)n + strlen(id->timestamp) >= sizeof(content)) return false;
			strcat(content, id->timestamp);
		}
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned int mac_len = 0;
		if(!hmac(md, secret, (const unsigned char *)content, strlen(content), mac, &mac_len)) return false;
		if(hex_equal_ci(mac, mac_len, password)) return true;
	}
	return false;
}

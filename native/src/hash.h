/* See hash.c. */
#ifndef ALINK_HASH_H
#define ALINK_HASH_H

#include <node_api.h>

napi_value HashCreate(napi_env env, napi_callback_info info);
napi_value HashUpdate(napi_env env, napi_callback_info info);
napi_value HashCopy(napi_env env, napi_callback_info info);
napi_value HashDigest(napi_env env, napi_callback_info info);

#endif

/* See pagecache.c. */
#ifndef ALINK_PAGECACHE_H
#define ALINK_PAGECACHE_H

#include <node_api.h>

napi_value DropPageCache(napi_env env, napi_callback_info info);

#endif

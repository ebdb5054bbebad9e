{
  "targets": [
    {
      "target_name": "alink_notify",
      "sources": ["src/notify.c", "src/pagecache.c", "src/hash.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "libraries": ["-ldl"],
      "cflags": ["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "xcode_settings": { "OTHER_CFLAGS": ["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"] }
    }
  ]
}

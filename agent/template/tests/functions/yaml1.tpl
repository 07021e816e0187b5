{{ with secret "kv2/fn" }}{{ .Data.data | toYAML }}
---
{{ .Data.data.arr | toYAML }}
---
{{ .Data.data.nested | toYAML }}
---
{{ "plain" | toYAML }}|{{ 42 | toYAML }}|{{ .Data.data.num | toYAML }}|{{ .Data.data.pi | toYAML }}
{{ end }}

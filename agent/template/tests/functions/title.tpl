{{ "hello world o'neil a-b a_b 1st x.y ÉCOLE éa camelCase HTTPServer  two  spaces\ttab" | toTitle }}

//! The consul-template functions and actions this crate adds for issue #12 §5, each in a template
//! whose expected bytes are what `bao agent` (OpenBao 2.7.2) wrote for it against a dev server
//! holding the same secret (the templates are the probe files used while writing them; the same
//! functions are also checked live in `tests/tests/openbao_differential.rs`).

use std::collections::BTreeMap;

use ferrovault_template::{Compiled, Dependency, Rendered, TemplateSource};
use serde_json::{Value, json};

/// `secret/typed` on the dev server (KV v2), as the fetcher hands it over.
fn data() -> BTreeMap<Dependency, Value> {
    let typed = json!({
        "num": 42, "pi": 3.25, "big": 1e21, "neg": -7, "flag": true, "arr": ["x", "y"],
        "nested": {"b": [1, "two", {"c": null}], "a": "z"}, "nul": null, "empty": "",
        "multi": "line1\nline2", "quoted": "yes", "colon": "a: b", "html": "<a&b>", "spaces": " lead",
        "num_str": "123", "emptymap": {}, "emptylist": [], "path/to/key": "v1", "path/other": "v2"
    });
    let secret = json!({
        "RequestID": "", "LeaseID": "", "LeaseDuration": 0, "Renewable": false,
        "Data": {"data": typed, "metadata": {"version": 1}},
        "Warnings": null, "Auth": null, "WrapInfo": null
    });
    BTreeMap::from([(Dependency::Read { path: "secret/typed".into() }, secret)])
}

/// (name, template, bytes `bao agent` rendered).
const CASES: &[(&str, &str, &str)] = &[
    (
        "ctl",
        r####"{{ define "greet" }}hi {{ . }}{{ end }}{{ template "greet" "bob" }}|{{ block "blk" "dot" }}block-{{ . }}{{ end }}|{{ $x := 1 }}{{ $x = 2 }}{{ $x }}|{{ range $i, $e := split "," "a,b,c,d" }}{{ if eq $e "c" }}{{ break }}{{ end }}{{ if eq $e "a" }}{{ continue }}{{ end }}{{ $e }}{{ end }}|{{ with "" }}no{{ else with "w" }}{{ . }}{{ end }}|{{ template "greet" }}|{{ $n := 0 }}{{ range loop 5 }}{{ $n = add $n 1 }}{{ end }}{{ $n }}|{{ define "rec" }}{{ if gt . 0 }}{{ . }}{{ template "rec" (subtract 1 .) }}{{ end }}{{ end }}{{ template "rec" 3 }}|{{ range loop 3 }}{{ range loop 3 }}{{ if eq . 1 }}{{ break }}{{ end }}{{ . }}{{ end }}{{ . }};{{ end }}|{{ with secret "secret/typed" }}{{ template "greet" .Data.data.num }}{{ end }}
"####,
        r####"hi bob|block-dot|2|b|w|hi <no value>|5|321|00;01;02;|hi 42
"####,
    ),
    (
        "misc",
        r####"{{ md5sum "hello" }}|{{ hmacSHA256Hex "msg" "key" }}|{{ containsAll (parseJSON `["a","b"]`) "a,b,c" }}|{{ containsAny (parseJSON `["x","b"]`) "abc" }}|{{ containsNone (parseJSON `["x","y"]`) "abc" }}|{{ containsNotAll (parseJSON `["a","z"]`) "abc" }}|{{ containsAll (parseJSON `["a","q"]`) (parseJSON `["a","b"]`) }}|{{ splitToMap "," "=" "a=1,b=2=3,c,=4" }}|{{ with secret "secret/typed" }}{{ explodeMap .Data.data }}{{ end }}|{{ mergeMap (parseJSON `{"a":"keep","e":"","n":{"x":1},"l":[1]}`) (parseJSON `{"a":"other","e":"filled","q":1,"n":{"x":2,"y":3},"l":[2],"z":null}`) }}|{{ mergeMapWithOverride (parseJSON `{"a":"keep","n":{"x":1},"l":[1]}`) (parseJSON `{"a":"other","q":1,"n":{"x":2,"y":3},"l":[2],"z":null}`) }}|{{ parseYAML "a: 1\nb: [x, 2.5, true, null]\nc:\n  d: e" }}|{{ (parseYAML "a: 1").a }}|{{ contains "a" (parseJSON `{"a":1}`) }}|{{ in (split "," "1,2") "1" }}|{{ "abc" | contains "b" }}
"####,
        r####"5d41402abc4b2a76b9719d911017c592|2d93cbc1be167bcb1637a4a23cbff01a7878f0c50ee833954ea5221bb1b8c628|true|true|true|true|false|map[:4 a:1 b:2=3]|map[arr:[x y] big:1e+21 colon:a: b empty: emptylist:[] emptymap:map[] flag:true html:<a&b> multi:line1
line2 neg:-7 nested:map[a:z b:[1 two map[c:<nil>]]] nul:<nil> num:42 num_str:123 path:map[other:v2 to:map[key:v1]] pi:3.25 quoted:yes spaces: lead]|map[a:keep e:filled l:[1] n:map[x:1 y:3] q:1]|map[a:other l:[2] n:map[x:2 y:3] q:1 z:<nil>]|map[a:1 b:[x 2.5 true <nil>] c:map[d:e]]|1|false|true|true
"####,
    ),
    (
        "regex",
        r####"{{ regexReplaceAll "(\\w+)@(\\w+)" "${2}:$1" "alice@example bob@host" }}|{{ regexReplaceAll "a*" "-" "baaac" }}|{{ regexReplaceAll "x*" "-" "abc" }}|{{ regexReplaceAll "(a)(b)?" "[$2|$1x|${1}x|$$|$]" "ab a" }}|{{ regexMatch "^\\d+$" "123" }}|{{ regexMatch "\\d" "٣" }}|{{ regexMatch "\\w" "é" }}|{{ regexMatch "(?i)straße" "STRASSE" }}|{{ regexMatch "(?i)k" "K" }}|{{ regexReplaceAll "\\s" "_" "a\vb\tc" }}|{{ regexReplaceAll "\\bfoo\\b" "X" "foo éfoo foo_" }}|{{ regexReplaceAll "(?P<first>\\w+) (?P<last>\\w+)" "$last, $first" "John Smith" }}|{{ regexReplaceAll "[[:alpha:]]+" "A" "ab12cd" }}|{{ regexReplaceAll "." "." "é" }}
"####,
        r####"example:alice host:bob|-b-c-|-a-b-c-|[b||ax|$|$] [||ax|$|$]|true|false|false|false|true|ab_c|X éX foo_|Smith, John|A12A|.
"####,
    ),
    (
        "title",
        r####"{{ "hello world o'neil a-b a_b 1st x.y ÉCOLE éa camelCase HTTPServer  two  spaces\ttab" | toTitle }}
"####,
        r####"Hello World O'neil A-B A_b 1St X.y ÉCOLE Éa CamelCase HTTPServer  Two  Spaces	Tab
"####,
    ),
    (
        "yaml1",
        r####"{{ with secret "secret/typed" }}{{ .Data.data | toYAML }}
---
{{ .Data.data.arr | toYAML }}
---
{{ .Data.data.nested | toYAML }}
---
{{ "plain" | toYAML }}|{{ 42 | toYAML }}|{{ .Data.data.num | toYAML }}|{{ .Data.data.pi | toYAML }}
{{ end }}
"####,
        r####"arr:
- x
- "y"
big: 1e+21
colon: 'a: b'
empty: ""
emptylist: []
emptymap: {}
flag: true
html: <a&b>
multi: |-
  line1
  line2
neg: -7
nested:
  a: z
  b:
  - 1
  - two
  - c: null
nul: null
num: 42
num_str: "123"
path/other: v2
path/to/key: v1
pi: 3.25
quoted: "yes"
spaces: ' lead'
---
- x
- "y"
---
a: z
b:
- 1
- two
- c: null
---
plain|42|42|3.25

"####,
    ),
    (
        "yaml2",
        r####"{{ $v := parseJSON `{"s":["true","null","~","yes","no","on","off","y","n","1","1.5","0x1F","1e3","-","- a","a #b","#c","a:b","a: b","@x","!x","%x","&x","*x","?","|","'q'","\"d\"","tab\there","nl\nx","trail ","", " ","é","2001-12-14","1_000",".inf","-.inf",".nan","NULL","True","FALSE","Yes","Off","=","<<","[a]","{a}","a,b","0o17","+1","012","1:20","3.","-0",">","a'b","x\"y","\u0007bell","a\\b","ünï","\u00a0nb","end:","x\r\ny","  lead","<x>"],"k e y":1,"":2,"1":3,"true":4,"n":[1.5,-2,1e21,1e-7,100000000000000000000,0.1,123456789.125],"e":{"l":[],"m":{}},"ll":[[1,2],[],[{"a":1,"b":[3]}]]}` }}{{ toYAML $v }}
"####,
        r####""": 2
"1": 3
e:
  l: []
  m: {}
k e y: 1
ll:
- - 1
  - 2
- []
- - a: 1
    b:
    - 3
"n":
- 1.5
- -2
- 1e+21
- 1e-07
- 1e+20
- 0.1
- 1.23456789125e+08
s:
- "true"
- "null"
- "~"
- "yes"
- "no"
- "on"
- "off"
- "y"
- "n"
- "1"
- "1.5"
- "0x1F"
- "1e3"
- '-'
- '- a'
- 'a #b'
- '#c'
- a:b
- 'a: b'
- '@x'
- '!x'
- '%x'
- '&x'
- '*x'
- '?'
- '|'
- '''q'''
- '"d"'
- "tab\there"
- |-
  nl
  x
- 'trail '
- ""
- ' '
- é
- "2001-12-14"
- "1_000"
- ".inf"
- "-.inf"
- ".nan"
- "NULL"
- "True"
- "FALSE"
- "Yes"
- "Off"
- =
- <<
- '[a]'
- '{a}'
- a,b
- "0o17"
- "+1"
- "012"
- "1:20"
- "3."
- "-0"
- '>'
- a'b
- x"y
- "\abell"
- a\b
- ünï
-  nb
- 'end:'
- "x\r\ny"
- '  lead'
- <x>
"true": 4
"####,
    ),
    (
        "yaml3",
        r####"{{ toYAML "multi\nline\n" }}
--
{{ toYAML "multi\n\n" }}
--
{{ toYAML (parseJSON `{"k":"  lead\nx","t":"trail \nx","l":"x\n","u":"\u2028a","emoji":"😀","long":"aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr ssss tttt uuuu","longq":"#aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr","longd":"true aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr  ssss","key\nnl":1,"a10":1,"a9":1,"a09":1,"B":1,"_x":1,"Z":1,"ä":1,"10":1,"9":1,"-1":1,"nested":{"deep":{"list":["a",["b",{"c":"d"}],{}],"x":[]}},"lm":[{"a":1},{"b":{"c":[1,2]}}],"ts":"2006-01-02T15:04:05Z","ts2":"2006-1-2 3:4:5"}`) }}
--
{{ toYAML (parseJSON `[]`) }}|{{ toYAML (parseJSON `{}`) }}|{{ toYAML (parseJSON `null`) }}|{{ toYAML true }}|{{ toYAML "" }}|{{ toYAML " x" }}|{{ toYAML "-" }}|{{ toYAML "a: b" }}
"####,
        r####"|
  multi
  line
--
|+
  multi
--
"-1": 1
_x: 1
"9": 1
"10": 1
B: 1
Z: 1
a9: 1
a09: 1
a10: 1
emoji: "\U0001F600"
k: |2-
    lead
  x
? |-
  key
  nl
: 1
l: |
  x
lm:
- a: 1
- b:
    c:
    - 1
    - 2
long: aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp
  qqqq rrrr ssss tttt uuuu
longd: true aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn
  oooo pppp qqqq rrrr  ssss
longq: '#aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo
  pppp qqqq rrrr'
nested:
  deep:
    list:
    - a
    - - b
      - c: d
    - {}
    x: []
t: "trail \nx"
ts: "2006-01-02T15:04:05Z"
ts2: "2006-1-2 3:4:5"
u: '   a'
ä: 1
--
[]|{}|null|true|""|' x'|'-'|'a: b'
"####,
    ),
    (
        "sprig",
        r####"{{ sprig_upper "abc" }}|{{ sprig_lower "ABC" }}|{{ sprig_title "hello wORld x.y" }}|{{ sprig_trim "  a  " }}|{{ sprig_trimAll "$" "$$a$" }}|{{ sprig_trimPrefix "a" "aab" }}|{{ sprig_trimSuffix "b" "abb" }}|{{ sprig_contains "b" "abc" }}|{{ sprig_hasPrefix "a" "abc" }}|{{ sprig_hasSuffix "x" "abc" }}|{{ sprig_quote "a\"b" 1 true }}|{{ sprig_squote "a" 2 }}|{{ sprig_replace "a" "-" "banana" }}|{{ sprig_repeat 3 "ab" }}|{{ sprig_trunc 3 "abcdef" }}|{{ sprig_trunc -2 "abcdef" }}|{{ sprig_nospace " a b\tc " }}|{{ sprig_indent 2 "a\nb" }}|{{ sprig_nindent 1 "x" }}|{{ sprig_b64enc "hi" }}|{{ sprig_b64dec "aGk=" }}|{{ sprig_sha256sum "abc" }}|{{ sprig_toString 42 }}|{{ sprig_splitList "," "a,b,,c" }}|{{ sprig_join "-" (sprig_list "a" 1 true) }}|{{ sprig_list 1 "two" }}|{{ sprig_first (sprig_list "f" "g") }}|{{ sprig_last (sprig_list "f" "g") }}|{{ sprig_has "g" (sprig_list "f" "g") }}|{{ sprig_dict "k" "v" "n" 2 }}|{{ sprig_get (sprig_dict "k" "v") "k" }}|[{{ sprig_get (sprig_dict "k" "v") "x" }}]|{{ sprig_hasKey (sprig_dict "k" "v") "k" }}|{{ sprig_atoi "12" }}|{{ sprig_atoi "x" }}|{{ sprig_add 1 2 "3" }}|{{ sprig_sub 5 2 }}|{{ sprig_mul 2 3 4 }}|{{ sprig_regexMatch "^a.c$" "abc" }}|{{ sprig_regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }}|{{ sprig_default "d" "" }}|{{ sprig_default "d" "given" }}|{{ sprig_empty "" }}|{{ sprig_empty 0 }}|{{ sprig_coalesce "" "x" "y" }}|{{ sprig_ternary "yes" "no" true }}|{{ "piped" | sprig_upper }}|{{ with secret "secret/typed" }}{{ sprig_toString .Data.data.num }}|{{ sprig_quote .Data.data.num .Data.data.arr }}|{{ sprig_join "," .Data.data.arr }}|{{ sprig_default "dflt" .Data.data.empty }}|{{ sprig_empty .Data.data.emptymap }}{{ end }}
"####,
        r####"ABC|abc|Hello WORld X.Y|a|a|ab|ab|true|true|false|"a\"b" "1" "true"|'a' '2'|b-n-n-|ababab|abc|ef|abc|  a
  b|
 x|aGk=|hi|ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad|42|[a b  c]|a-1-true|[1 two]|f|g|true|map[k:v n:2]|v|[]|true|12|0|6|3|24|true|-W-xxW-|d|given|true|true|x|yes|PIPED|42|"42" "[x y]"|x,y|dflt|true
"####,
    ),
    (
        "regex2",
        r####"{{ with secret "secret/typed" }}{{ regexReplaceAll "^(\\w)\\w*$" "$1***" .Data.data.quoted }}|{{ .Data.data.colon | regexReplaceAll ":\\s*" "=" }}|{{ regexMatch "^[0-9]+$" .Data.data.num_str }}{{ end }}|{{ regexReplaceAll "(?m)^" "> " "a\nb" }}|{{ regexReplaceAll "(?s)a.b" "X" "a\nb" }}|{{ regexReplaceAll "[^a-z]+" "" "Hello, World 42!" }}|{{ regexReplaceAll "(?U)a+" "X" "aaa" }}|{{ regexReplaceAll "é+" "E" "ééa" }}|{{ regexReplaceAll "\\p{Greek}" "g" "αβc" }}|{{ regexReplaceAll "x{2}" "Y" "xxxxx" }}|{{ regexReplaceAll "\\x41" "b" "A" }}|{{ regexReplaceAll "$" "!" "end" }}|{{ regexReplaceAll "" "-" "ab" }}
"####,
        r####"y***|a=b|true|> a
> b|X|elloorld|XXX|Ea|ggc|YYx|b|end!|-a-b-
"####,
    ),
    (
        "title2",
        r####"{{ "don't stop" | toTitle }}|{{ "a..b a:b a,b 1,5x ß x—y (paren) [br] élan ñu" | toTitle }}|{{ "hello" | toUpper | toTitle }}
"####,
        r####"Don't Stop|A..B A:b A,B 1,5X Ss X—Y (Paren) [Br] Élan Ñu|HELLO
"####,
    ),
    (
        "misc2",
        r####"{{ $m := parseJSON `{"a/b/c":1,"a/d":2,"x":3,"y/":4}` }}{{ explodeMap $m | toJSON }}|{{ splitToMap ";" ":" "k1:v1;k2:v2:x" | toJSON }}|{{ splitToMap "," "=" "  " }}|{{ "a,b" | split "," | toJSON }}|{{ sha256Hex "x" }}|{{ indent 4 "a\n\nb\n" }}|{{ containsNone (parseJSON `["a"]`) "xyz" }}|{{ containsNotAll (parseJSON `["x","y"]`) "xyz" }}|{{ parseYAML "- 1\n- two\n- 3.5\n- {a: b}" }}|{{ len (parseYAML "") }}|{{ toYAML (parseYAML "b: 1\na: [x, z]") }}
"####,
        r####"{"a":{"b":{"c":1},"d":2},"x":3,"y":{}}|{"k1":"v1","k2":"v2:x"}|map[]|["a","b"]|2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881|    a

    b
|true|false|[1 two 3.5 map[a:b]]|0|a:
- x
- z
b: 1
"####,
    ),
];

#[test]
fn functions_render_what_bao_agent_rendered() {
    let data = data();
    let mut differences = Vec::new();
    for (name, template, want) in CASES {
        let compiled = Compiled::compile(&TemplateSource::new(template))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        match compiled.render(&data) {
            Ok(Rendered::Complete(got)) if got == want.as_bytes() => {}
            Ok(Rendered::Complete(got)) => {
                let got = String::from_utf8_lossy(&got);
                differences.push(format!("{name}:\n  want {want:?}\n  got  {got:?}"));
            }
            other => differences.push(format!("{name}: {other:?}")),
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

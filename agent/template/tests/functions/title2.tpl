{{ "don't stop" | toTitle }}|{{ "a..b a:b a,b 1,5x ß x—y (paren) [br] élan ñu" | toTitle }}|{{ "hello" | toUpper | toTitle }}

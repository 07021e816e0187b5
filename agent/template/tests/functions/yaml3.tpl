{{ toYAML "multi\nline\n" }}
--
{{ toYAML "multi\n\n" }}
--
{{ toYAML (parseJSON `{"k":"  lead\nx","t":"trail \nx","l":"x\n","u":"\u2028a","emoji":"😀","long":"aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr ssss tttt uuuu","longq":"#aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr","longd":"true aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr  ssss","key\nnl":1,"a10":1,"a9":1,"a09":1,"B":1,"_x":1,"Z":1,"ä":1,"10":1,"9":1,"-1":1,"nested":{"deep":{"list":["a",["b",{"c":"d"}],{}],"x":[]}},"lm":[{"a":1},{"b":{"c":[1,2]}}],"ts":"2006-01-02T15:04:05Z","ts2":"2006-1-2 3:4:5"}`) }}
--
{{ toYAML (parseJSON `[]`) }}|{{ toYAML (parseJSON `{}`) }}|{{ toYAML (parseJSON `null`) }}|{{ toYAML true }}|{{ toYAML "" }}|{{ toYAML " x" }}|{{ toYAML "-" }}|{{ toYAML "a: b" }}

"""`.env` inputs for comparing the suite's reading with Node's dotenv (tests/test_envfiles_node.py).

FILES: name -> bytes. The first group follows dotenv's documented parsing rules (its README,
"What rules does the parsing engine follow?", and the lines of its own test fixture); then each
case seen to differ from other readers, line endings, BOM, multiline values and huge values.
"""

from __future__ import annotations

DOCUMENTED = {
    "basic": "BASIC=basic\n",
    "after_line": "\n\nAFTER_LINE=after_line\n",
    "empty": "EMPTY=\nEMPTY_SINGLE_QUOTES=''\nEMPTY_DOUBLE_QUOTES=\"\"\nEMPTY_BACKTICKS=``\n",
    "quotes": "SINGLE_QUOTES='single_quotes'\nSINGLE_QUOTES_SPACED='    single quotes    '\n"
    'DOUBLE_QUOTES="double_quotes"\nDOUBLE_QUOTES_SPACED="    double quotes    "\n'
    "DOUBLE_QUOTES_INSIDE_SINGLE='double \"quotes\" work inside single quotes'\n"
    'DOUBLE_QUOTES_WITH_NO_SPACE_BRACKET="{ port: $MONGOLAB_PORT}"\n'
    "SINGLE_QUOTES_INSIDE_DOUBLE=\"single 'quotes' work inside double quotes\"\n"
    "BACKTICKS_INSIDE_SINGLE='`backticks` work inside single quotes'\n"
    'BACKTICKS_INSIDE_DOUBLE="`backticks` work inside double quotes"\n'
    "BACKTICKS=`backticks`\nBACKTICKS_SPACED=`    backticks    `\n"
    'DOUBLE_QUOTES_INSIDE_BACKTICKS=`double "quotes" work inside backticks`\n'
    "SINGLE_QUOTES_INSIDE_BACKTICKS=`single 'quotes' work inside backticks`\n"
    "DOUBLE_AND_SINGLE_QUOTES_INSIDE_BACKTICKS=`double \"quotes\" and single 'quotes' work inside backticks`\n",
    "expand_newlines": 'EXPAND_NEWLINES="expand\\nnew\\nlines"\nDONT_EXPAND_UNQUOTED=dontexpand\\nnewlines\n'
    "DONT_EXPAND_SQUOTED='dontexpand\\nnewlines'\n",
    "comments": "# COMMENTS=work\nINLINE_COMMENTS=inline comments # work #very #well\n"
    "INLINE_COMMENTS_SINGLE_QUOTES='inline comments outside of #singlequotes' # work\n"
    'INLINE_COMMENTS_DOUBLE_QUOTES="inline comments outside of #doublequotes" # work\n'
    "INLINE_COMMENTS_BACKTICKS=`inline comments outside of #backticks` # work\n"
    "INLINE_COMMENTS_SPACE=inline comments start with a#number sign. no space required.\n",
    "equal_signs": 'EQUAL_SIGNS=equals==\nRETAIN_INNER_QUOTES={"foo": "bar"}\n'
    'RETAIN_INNER_QUOTES_AS_STRING=\'{"foo": "bar"}\'\n'
    'RETAIN_INNER_QUOTES_AS_BACKTICKS=`{"foo": "bar\'s"}`\n',
    "trim": "TRIM_SPACE_FROM_UNQUOTED=    some spaced out string    \n"
    "USERNAME=therealnerdybeast@example.tld\n    SPACED_KEY = parsed\n",
    "multiline": 'MULTI_DOUBLE_QUOTED="THIS\nIS\nA\nMULTILINE\nSTRING"\n\n'
    "MULTI_SINGLE_QUOTED='THIS\nIS\nA\nMULTILINE\nSTRING'\n\n"
    'MULTI_BACKTICKED=`THIS\nIS\nA\n"MULTILINE\'S"\nSTRING`\n'
    'MULTI_PEM_DOUBLE_QUOTED="-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnNl1tL3QjKp3DZWM0T3u\n'
    'LgGJQwu9WqyzHKZ6WIA5T+7zPjO1L8l3S8k8YzBrfH4mqWOD1GBI8Yjq2L1ac3Y/\n-----END PUBLIC KEY-----"\n',
    "export": "export EXPORTED=exported\nexport\tTABBED=tabbed\n",
    "colon": "A: v\nB:v\nC:   spaced\nD:\n",
    "last_wins": "DUP=first\nDUP=second\n",
}

HOSTILE = {
    "hash_in_unquoted": "JWT_SECRET=abc#def\nCOLOR=#ff0000\nX=a #b\nY= #only comment\nZ=#\n",
    "escapes": "D=\"tab\\there\\\\back \\\"q\\\" \\'s\\' \\n \\r\"\nS='a\\tb\\nc'\nU=a\\tb\nB=`a\\nb`\n",
    "escaped_quote": 'A="a\\"b"\nB=\'a\\\'b\'\nC=`a\\`b`\nD="ends with\\"\n',
    "bom": "\ufeffFIRST=1\nSECOND=2\n",
    "bare_key_and_quoted_key": "BARE\n'QK'=1\n\"DQ\"=2\nOK=3\n",
    "unterminated": "A=\"abc\nB=2\nC='x\nD=`y\n",
    "unterminated_swallows": 'A="abc\nB=2\nC="\nD=4\n',
    "digit_and_odd_keys": "1K=x\nK.DOT=y\nK-DASH=z\n_U=u\nÄÖ=nope\nKEY WITH SPACE=no\n",
    "no_trailing_newline": "A=1\nB=2",
    "crlf": "A=1\r\nB=\"l1\r\nl2\"\r\nC='x'\r\n",
    "lone_cr": 'A=1\rB="x\ry"\rC=3\r',
    "mixed_endings": 'A=1\r\nB=2\nC=3\rD="m\r\nn\no"\n',
    "quote_then_text": 'A="x" y\nB=\'a\' \'b\'\nC="a"#c\nD=\'a\'# c\nE="a""b"\n',
    "equals_in_value": "A=1=2\nB==\nC= = \n",
    "spaces_around": "A = spaced\nB= lead\nC=trail   \n  D  =  both  \n",
    "tabs_and_nbsp": "A=\tt\t\nB=\u00a0nb\u00a0\nC=v\u000bt\nD=\u2028x\n",
    "line_separator_in_value": 'A=x\u2028B=y\nC="p\u2029q"\n',
    "proto": "__proto__=x\nconstructor=y\ntoString=z\n",
    "multiline_with_assignments": 'CERT="-----BEGIN-----\nKEY_INSIDE=not a key\nexport ALSO=no\n-----END-----"\nAFTER=1\n',
    "empty_file": "",
    "only_comments": "# a\n   # b\n#c=d\n",
    "export_odd": "export A\nexport  B=2\nexportC=3\nexport=4\n",
    "comment_after_empty": 'A=\nB= # c\nC="" # c\n',
    "dollar_and_braces": 'A=${B}\nB=$C\nC="${A} x"\n',
    "url_with_password": 'DATABASE_URL=postgresql://u:p%23ss#word@h:5432/d\nREDIS_URL="redis://:pw#x@h:6379/0"\n',
    "windows_path": 'P=C:\\path\\to\\new\nQ="C:\\path\\to\\new"\n',
    "json_value": 'J={"a":1,"b":[1,2]}\nK=\'{"a":"#"}\'\n',
}

HUGE = {
    "huge_unquoted": "BIG=" + "x" * 1_000_000 + "\nAFTER=1\n",
    "huge_double_quoted": 'BIG="' + ("ab\\n" * 250_000) + '"\nAFTER=1\n',
    "huge_single_multiline": "BIG='" + ("line\n" * 100_000) + "'\nAFTER=1\n",
    "many_lines": "".join(f"K{i}=v{i}\n" for i in range(20_000)),
}

FILES: dict[str, bytes] = {
    name: text.encode("utf-8")
    for group in (DOCUMENTED, HOSTILE, HUGE)
    for name, text in group.items()
}

# Parses one CLI11 `--help` text (its default formatter) into tab-separated records, for the
# man page and completion generators here:
#   about <TAB> line            the description above "Usage:"
#   usage <TAB> text            what follows "Usage: "
#   option|positional|subcommand <TAB> name <TAB> description
#   text <TAB> line             anything else (kept, never dropped)
# CLI11 pads an entry's name to 30 columns and starts its description at column 31; a name
# that does not fit gets a line of its own and the description goes on the next, indented by
# 30 spaces. Descriptions are not wrapped, so an entry followed by such a line is a long name.
function flush() {
  if (!have) return
  if (more == "") {
    name = substr(raw, 3, 28)
    desc = substr(raw, 31)
  } else {
    name = substr(raw, 3)
    desc = more
  }
  sub(/ +$/, "", name)
  sub(/^ +/, "", desc)
  printf "%s\t%s\t%s\n", kind, name, desc
  have = 0
}
BEGIN { in_about = 1; have = 0; kind = "text" }
/^Usage: / {
  flush()
  print "usage\t" substr($0, 8)
  in_about = 0
  next
}
in_about {
  if ($0 != "") print "about\t" $0
  next
}
/^[A-Z][A-Za-z ]*:$/ {
  flush()
  kind = "text"
  if ($0 == "Options:") kind = "option"
  if ($0 == "Positionals:") kind = "positional"
  if ($0 == "Subcommands:") kind = "subcommand"
  next
}
/^$/ { flush(); next }
/^                              / && have {
  d = substr($0, 31)
  sub(/^ +/, "", d)
  more = (more == "") ? d : more " " d
  next
}
/^  [^ ]/ && kind != "text" {
  flush()
  raw = $0
  more = ""
  have = 1
  next
}
{ flush(); print "text\t" $0 }
END { flush() }

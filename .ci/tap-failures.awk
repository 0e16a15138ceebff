# Prints every `not ok` line of a TAP log with the file and subtests it is in and its YAML diagnostics
# (up to 40 lines each). Input: the TAP tap(1) prints, subtests indented by four spaces per level.
function indent(s) { match(s, /^ */); return RLENGTH }
/^ *# Subtest: / {
  d = indent($0) / 4
  name[d] = substr($0, index($0, "# Subtest: ") + 11)
  next
}
/^ *not ok / {
  d = indent($0) / 4
  path = ""
  for (i = 0; i < d; i++) if (name[i] != "") path = path (path == "" ? "" : " > ") name[i]
  if (path != "") print "## " path
  print $0
  want = indent($0); diag = 1; n = 0
  next
}
diag {
  if (indent($0) <= want && $0 !~ /^ *$/) { diag = 0; print ""; next }
  if (++n <= 40) print
  if ($0 ~ /^ *\.\.\.$/) { diag = 0; print "" }
}

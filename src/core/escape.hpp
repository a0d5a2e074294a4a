#pragma once
// Escaping of values that came from outside (files under --root, snapshots, pasted text, the
// driver) for each kind of output. One function per kind; every reporter and every rule that
// builds a shell command uses these, never ad-hoc replacements.
//
// What counts as a control character everywhere: C0 (U+0000-U+001F, ESC and BEL among them), DEL,
// the C1 controls U+0080-U+009F (CSI U+009B, OSC U+009D), the bidirectional controls
// U+200E-U+200F, U+202A-U+202E, U+2066-U+2069 and the separators U+2028-U+2029; and every byte
// that is not part of valid UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past
// U+10FFFF).

#include <string>
#include <string_view>

namespace gpudoctor::escape {

/// For a terminal: every control character shown as a visible escape (\n, \r, \t, \x1b for
/// other C0 and DEL, \u009b for C1 and the bidi controls, \xff for a byte that is not valid
/// UTF-8). Everything else, UTF-8 text included, unchanged.
std::string terminal(std::string_view s);

/// Markdown text (a paragraph, a list item or a table cell): terminal() first, then the
/// characters Markdown or its HTML would interpret (\ ` * [ ] < > & |) escaped with a backslash,
/// so that the value renders as itself and never as a link, an HTML tag, an entity or a cell break.
std::string markdown(std::string_view s);

/// Markdown inline code: the value (terminal() escapes kept visible) between backtick fences
/// longer than any backtick run inside it. In a table cell (`in_table`) a `|` is written `\|`,
/// which GitHub's tables read as a `|` inside code.
std::string markdown_code(std::string_view s, bool in_table);

/// One word for a POSIX shell command that is printed for the user to paste: `s` unchanged when
/// it is only letters, digits and _ @ % + = : , . / -; otherwise in single quotes with each ' as
/// '\''. A value holding a control character (newline included) is written as $'...' with octal
/// escapes instead, so that the printed command stays one line of visible text: bash, zsh, ksh
/// and busybox read it literally; a shell without $'...' (dash) reads a literal word too, never
/// running anything.
std::string shell(std::string_view s);

/// Whether `s` holds a control character or a byte that is not valid UTF-8 (see above).
bool has_control(std::string_view s);

}  // namespace gpudoctor::escape

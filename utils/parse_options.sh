# Kaldi-style option parsing; source it after setting the script's defaults:
#
#   stage=1; nj=4; use_gpu=false; help_message="Usage: $0 [options] <data-dir>"
#   . utils/parse_options.sh
#
# Leading "--name value" (or "--name=value") arguments set the variable "name", with "-"
# in the name read as "_" (--stop-stage 3 sets stop_stage=3). The variable must already
# be defined; a variable whose default is true/false only takes true or false.
# --config FILE reads "name=value" lines (# comments allowed) before the other options,
# so the command line wins (as in Kaldi, --config always means this file, never a variable).
# Values in the file are taken literally (no shell expansion); "#" starts a comment.
# --help or -h prints $help_message and exits 0.
# Parsing stops at the first argument that is not an option (or after "--"); the
# options are removed from "$@", the rest stays for the script.

# Set one option; exits the script with a message naming it when it is not usable.
_parse_options_set() {  # <name as given> <value> <where it came from>
    local _po_name="${1//-/_}"
    if [[ ! "${_po_name}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
        echo "$0: invalid option name '$1' ($3)" >&2; exit 1
    fi
    if [ -z "${!_po_name+set}" ]; then
        echo "$0: unknown option --$1 ($3): the script defines no variable '${_po_name}'" >&2; exit 1
    fi
    case "${!_po_name}" in
        true|false)
            case "$2" in
                true|false) ;;
                *) echo "$0: option --$1 ($3) takes true or false, got '$2'" >&2; exit 1 ;;
            esac ;;
    esac
    printf -v "${_po_name}" '%s' "$2"
}

# Read "name=value" lines of a config file.
_parse_options_config() {  # <file>
    local _po_line _po_lineno=0 _po_key _po_value
    [ -f "$1" ] && [ -r "$1" ] || { echo "$0: missing config '$1' (--config: no such readable file)" >&2; exit 1; }
    while IFS= read -r _po_line || [ -n "${_po_line}" ]; do
        _po_lineno=$((_po_lineno + 1))
        _po_line="${_po_line%%#*}"
        _po_line="${_po_line#"${_po_line%%[![:space:]]*}"}"
        _po_line="${_po_line%"${_po_line##*[![:space:]]}"}"
        [ -z "${_po_line}" ] && continue
        if [[ ! "${_po_line}" =~ ^(--)?([A-Za-z_][A-Za-z0-9_-]*)[[:space:]]*=[[:space:]]*(.*)$ ]]; then
            echo "$0: $1 line ${_po_lineno}: expected name=value, got '${_po_line}'" >&2; exit 1
        fi
        _po_key="${BASH_REMATCH[2]}"
        _po_value="${BASH_REMATCH[3]}"
        if [[ "${_po_value}" =~ ^\"(.*)\"$ || "${_po_value}" =~ ^\'(.*)\'$ ]]; then
            _po_value="${BASH_REMATCH[1]}"
        fi
        _parse_options_set "${_po_key}" "${_po_value}" "$1 line ${_po_lineno}"
    done < "$1"
}

# First pass: --help and --config anywhere among the leading options.
_po_args=("$@")
_po_i=0
while [ "${_po_i}" -lt "${#_po_args[@]}" ]; do
    _po_arg="${_po_args[${_po_i}]}"
    case "${_po_arg}" in
        --help|-h)
            if [ -n "${help_message:-}" ]; then printf '%s\n' "${help_message}"
            else echo "$0: no help message (the script sets none)"; fi
            exit 0 ;;
        --config) _parse_options_config "${_po_args[$((_po_i + 1))]:-}"; _po_i=$((_po_i + 2)) ;;
        --config=*) _parse_options_config "${_po_arg#--config=}"; _po_i=$((_po_i + 1)) ;;
        --) break ;;
        --*=*) _po_i=$((_po_i + 1)) ;;
        --?*) _po_i=$((_po_i + 2)) ;;
        *) break ;;
    esac
done

# Second pass: set the options and shift them away.
while [ $# -gt 0 ]; do
    case "$1" in
        --) shift; break ;;
        --config) shift 2 ;;
        --config=*) shift ;;
        --*=*) _po_arg="${1#--}"; _parse_options_set "${_po_arg%%=*}" "${_po_arg#*=}" "command line"; shift ;;
        --?*)
            [ $# -ge 2 ] || { echo "$0: option $1 needs a value" >&2; exit 1; }
            _parse_options_set "${1#--}" "$2" "command line"; shift 2 ;;
        *) break ;;
    esac
done
unset _po_args _po_i _po_arg
unset -f _parse_options_set _parse_options_config
true

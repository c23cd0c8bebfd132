# bash completion for cnctl and cloud-network (installed as completions/cnctl, with
# completions/cloud-network a symlink to it). Keep the words in sync with --help
# (tests/packaging.rs compares them).

_cloud_network_words() {
    local IFS=$' \t\n'
    COMPREPLY=($(compgen -W "$1" -- "$2"))
}

_cloud_network_files() {
    local IFS=$'\n'
    COMPREPLY=($(compgen -f -- "$1"))
}

# The first word after `first` that is neither an option nor an option's value.
_cloud_network_command_at() {
    local first=$1 takes_value=$2 i
    for ((i = first; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -*) [[ " $takes_value " == *" ${COMP_WORDS[i]} "* ]] && ((i++)) ;;
            *) echo "$i"; return ;;
        esac
    done
}

# cnctl's arguments, starting at word `first`.
_cloud_network_cnctl() {
    local first=$1 cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]} at
    case $prev in
        --url) return ;;
        --config) _cloud_network_files "$cur"; return ;;
    esac
    at=$(_cloud_network_command_at "$first" "--url --config")
    if [[ -z $at ]]; then
        if [[ $cur == -* ]]; then
            _cloud_network_words "--json --url --config --help" "$cur"
        else
            _cloud_network_words "status show refresh version check" "$cur"
        fi
        return
    fi
    if ((COMP_CWORD > at + 1)) || [[ $cur == -* ]]; then
        _cloud_network_words "--help" "$cur"
        return
    fi
    case ${COMP_WORDS[at]} in
        status) _cloud_network_words "system network links" "$cur" ;;
        show) _cloud_network_words "ssh-keys credentials document pkcs7 signature rsa2048 project" "$cur" ;;
        *) _cloud_network_words "--help" "$cur" ;;
    esac
}

_cloud_network_daemon() {
    local cur=$1 prev=$2
    case $prev in
        --config) _cloud_network_files "$cur"; return ;;
    esac
    _cloud_network_words "--config --oneshot --dry-run --help" "$cur"
}

_cloud_network_emulate() {
    local cur=$1 prev=$2
    case $prev in
        --provider) _cloud_network_words "azure aws gcp oracle alibaba digitalocean" "$cur"; return ;;
        --fault) _cloud_network_words "none http500 timeout garbage empty throttle" "$cur"; return ;;
        --scenario) _cloud_network_files "$cur"; return ;;
        --listen) return ;;
    esac
    _cloud_network_words "--provider --scenario --listen --fault --require-token --no-long-poll --help" "$cur"
}

_cnctl() {
    _cloud_network_cnctl 1
}

_cloud_network() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    if ((COMP_CWORD == 1)); then
        if [[ $cur == -* ]]; then
            _cloud_network_words "--version --help" "$cur"
        else
            _cloud_network_words "daemon cnctl emulate version" "$cur"
        fi
        return
    fi
    case ${COMP_WORDS[1]} in
        daemon) _cloud_network_daemon "$cur" "$prev" ;;
        cnctl) _cloud_network_cnctl 2 ;;
        emulate) _cloud_network_emulate "$cur" "$prev" ;;
        *) _cloud_network_words "--help" "$cur" ;;
    esac
}

complete -F _cnctl cnctl
complete -F _cloud_network cloud-network

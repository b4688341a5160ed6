# bash completion for fs, the feature store.
#
# Driven by the binary, so that it never drifts from it:
#   fs --list-cmds                    the commands
#   fs CMD --fs-completion-helper     a command's long options ("--rev=" takes a value)
#   fs ls [KIND]                      registered names ("kind  name  vN" lines)
# Only the object kinds and the model stages are spelled out here.
#
# Install as /usr/share/bash-completion/completions/fs, or source this file.

_fs_kinds="entity source feature_view feature_service model"
_fs_stages="staging production archived none"

# Run fs as the command line names it, in the directory of its -C options.
_fs_run()
{
	local bin=${COMP_WORDS[0]}
	[[ $bin == */* && -x $bin ]] || bin=fs
	command "$bin" "${_fs_global[@]}" "$@" 2>/dev/null
}

# Registered names, of one kind or of all.
_fs_names()
{
	_fs_run ls "$@" | while read -r _ name _; do printf '%s\n' "$name"; done
}

# Directories, completed as bash does (spaces in names kept).
_fs_complete_dirs()
{
	local IFS=$'\n'
	COMPREPLY=($(compgen -d -- "$1"))
	type compopt &>/dev/null && compopt -o filenames 2>/dev/null
}

# Long options of cmd (and its subcommand, as "models get") matching cur;
# those taking a value end with '=' and get no space after them.
_fs_complete_options()
{
	local cmd=$1 cur=$2
	COMPREPLY=($(compgen -W "$(_fs_run $cmd --fs-completion-helper)" -- "$cur"))
	if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]]; then
		type compopt &>/dev/null && compopt -o nospace 2>/dev/null
	fi
}

_fs()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=
	local i=1 cmd= cmd_at=0 word
	local -a _fs_global=() args=()

	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	COMPREPLY=()

	# global options, up to the command
	while ((i < COMP_CWORD)); do
		word=${COMP_WORDS[i]}
		case $word in
		-C)
			((i + 1 < COMP_CWORD)) && _fs_global+=(-C "${COMP_WORDS[i + 1]}")
			((i += 2))
			continue
			;;
		-*)
			((i++))
			continue
			;;
		esac
		cmd=$word
		cmd_at=$i
		break
	done

	if [[ -z $cmd ]]; then
		if [[ $prev == -C ]]; then
			_fs_complete_dirs "$cur"
		elif [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "-C -P --no-pager --version --help --list-cmds" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_fs_run --list-cmds)" -- "$cur"))
		fi
		return 0
	fi

	# a subcommand with options of its own
	local optcmd=$cmd
	[[ $cmd == models && ${COMP_WORDS[cmd_at + 1]} == get ]] && ((COMP_CWORD > cmd_at + 1)) &&
		optcmd="models get"
	if [[ $cur == -* ]]; then
		_fs_complete_options "$optcmd" "$cur"
		return 0
	fi
	# values that fs knows: feature references, views, revisions, times
	local opt=$prev
	[[ $prev == = && COMP_CWORD -ge 2 ]] && opt=${COMP_WORDS[COMP_CWORD - 2]}
	case $cmd,$opt in
	get-historical,-f | get-historical,--features | get-online,-f | get-online,--features)
		COMPREPLY=($(compgen -W "$(_fs_names feature_view) $(_fs_names feature_service)" -- "$cur"))
		return 0
		;;
	materialize,-v | materialize,--view | materialize-incremental,-v | materialize-incremental,--view)
		COMPREPLY=($(compgen -W "$(_fs_names feature_view)" -- "$cur"))
		return 0
		;;
	plan,--rev | apply,--rev)
		COMPREPLY=($(compgen -W "HEAD $(git for-each-ref --format='%(refname:short)' 2>/dev/null)" -- "$cur"))
		return 0
		;;
	get-online,--at)
		COMPREPLY=($(compgen -W "now now-1h now-1d $(date -u +%Y-%m-%d 2>/dev/null)" -- "$cur"))
		return 0
		;;
	push,--to)
		COMPREPLY=($(compgen -W "online offline online_and_offline" -- "$cur"))
		return 0
		;;
	status,--max-staleness)
		COMPREPLY=($(compgen -W "15m 30m 1h 2h 6h 1d" -- "$cur"))
		return 0
		;;
	serve-lite,--host | ui,--host)
		COMPREPLY=($(compgen -W "127.0.0.1 ::1 0.0.0.0" -- "$cur"))
		return 0
		;;
	serve-lite,--port | ui,--port)
		COMPREPLY=($(compgen -W "6566" -- "$cur"))
		return 0
		;;
	stream,--batch-ms)
		COMPREPLY=($(compgen -W "50" -- "$cur"))
		return 0
		;;
	stream,--batch-events)
		COMPREPLY=($(compgen -W "10000" -- "$cur"))
		return 0
		;;
	esac
	# the value of "--opt=value" (bash splits the word at '=') or of
	# "--opt value" is left to the default completion (file names)
	local opts=" $(_fs_run $optcmd --fs-completion-helper) "
	[[ $prev == = || ($prev == --* && $opts == *" $prev= "*) ]] && return 0

	# the positional arguments before the cursor, without options and their values
	for ((i = cmd_at + 1; i < COMP_CWORD; i++)); do
		word=${COMP_WORDS[i]}
		if [[ $word == -* ]]; then
			if [[ ${COMP_WORDS[i + 1]} == = ]]; then
				((i += 2)) # --opt=value
			elif [[ $opts == *" $word= "* ]]; then
				((i++)) # --opt value
			fi
		else
			args+=("$word")
		fi
	done

	case $cmd,${#args[@]} in
	ls,0 | describe,0)
		COMPREPLY=($(compgen -W "$_fs_kinds" -- "$cur"))
		;;
	describe,1)
		COMPREPLY=($(compgen -W "$(_fs_names "${args[0]}")" -- "$cur"))
		;;
	log,0)
		COMPREPLY=($(compgen -W "$(_fs_names)" -- "$cur"))
		;;
	help,0)
		COMPREPLY=($(compgen -W "$(_fs_run --list-cmds)" -- "$cur"))
		;;
	init,0)
		_fs_complete_dirs "$cur"
		;;
	models,0)
		COMPREPLY=($(compgen -W "log get $(_fs_names model)" -- "$cur"))
		;;
	models,1)
		[[ ${args[0]} == log || ${args[0]} == get ]] &&
			COMPREPLY=($(compgen -W "$(_fs_names model)" -- "$cur"))
		;;
	alias,0)
		COMPREPLY=($(compgen -W "$(_fs_names model)" -- "$cur"))
		;;
	push,0 | stream,*)
		COMPREPLY=($(compgen -W "$(_fs_names source)" -- "$cur"))
		;;
	register-model,0 | promote,0)
		COMPREPLY=($(compgen -W "$(_fs_names model)" -- "$cur"))
		;;
	promote,2)
		COMPREPLY=($(compgen -W "$_fs_stages" -- "$cur"))
		;;
	materialize,0 | materialize,1)
		COMPREPLY=($(compgen -W "now now-1h now-1d $(date -u +%Y-%m-%d 2>/dev/null)" -- "$cur"))
		;;
	materialize-incremental,0)
		COMPREPLY=($(compgen -W "now" -- "$cur"))
		;;
	esac
	return 0
}

complete -o bashdefault -o default -F _fs fs

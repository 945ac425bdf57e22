# ttal's hook rules in sh, sourced by on-add-ttal and on-modify-ttal after ttal-rules.sh.
#
# Python costs ~20 ms per `task` write before it does anything, so these functions decide
# the changes that certainly pass every rule, and the hooks hand everything else (every
# refusal, approvals, anything unusual) to ttal-hook.py, which decides exactly. The property
# test tests/test_hook_fastpath.py holds them to ttal/tagrules.py.
#
# Parsing rests on JSON itself: inside a string every '"' is escaped, so '"tags":[' can only
# be the tags key, and ',"coded",' inside ',<the array's text>,' only a whole element.

# tags_of LINE: the task's tags array as ,"a","b", in $tags (,, for none); '?' when it
# cannot be read exactly (a ']' inside a tag, an unexpected layout).
tags_of() {
    case $1 in
    *'"tags":['*)
        rest=${1#*'"tags":['}
        tags=${rest%%]*}
        rest=${rest#*]}
        case $rest in '}' | ',"'*) tags=",$tags," ;; *) tags='?' ;; esac ;;
    *'"tags"'*) tags='?' ;;
    *) tags=',,' ;;
    esac
}

# has TAGS TAG: TAG is an element of TAGS (as tags_of gives them).
has() {
    case $1 in *",\"$2\","*) return 0 ;; esac
    return 1
}

any_pipeline_tag() {
    for t in $ttal_all_tags; do
        has "$1" "$t" && return 0
    done
    return 1
}

# pick TAGS: the number of the pipeline the tags select, in $picked: by its match tags,
# else the default pipeline; '' for none, '?' when several match.
pick() {
    picked=''
    for p in $ttal_pipelines; do
        eval "match=\$ttal_p${p}_match"
        for m in $match; do
            if has "$1" "$m"; then
                [ -n "$picked" ] && picked='?' && return 0
                picked=$p
                break
            fi
        done
    done
    [ -n "$picked" ] || picked=$ttal_default
}

# modify_ok: the change from $old to $new passes every rule (ttal_approved aside: the
# caller sends any task that mentions it to Python).
modify_ok() {
    tags_of "$old"
    before=$tags
    tags_of "$new"
    after=$tags
    [ "$before" = '?' ] || [ "$after" = '?' ] && return 1
    [ "$before" = "$after" ] && return 0
    for t in $ttal_all_tags; do  # a pipeline tag removed
        has "$before" "$t" && ! has "$after" "$t" && return 1
    done
    pick "$after"
    now=$picked
    [ "$now" = '?' ] && return 1
    if any_pipeline_tag "$before"; then
        pick "$before"
        [ "$picked" = "$now" ] || return 1  # moved to another pipeline mid-flight
    fi
    for t in $ttal_all_tags; do  # each pipeline tag added
        has "$after" "$t" && ! has "$before" "$t" || continue
        [ -n "$now" ] || return 1  # no pipeline for it
        eval "order=\$ttal_p${now}_tags approve=\$ttal_p${now}_approve"
        case " $approve " in *" $t "*) return 1 ;; esac  # who approves: Python checks
        found=no
        for o in $order; do
            [ "$o" = "$t" ] && found=yes && break
            has "$after" "$o" || return 1  # an earlier tag is missing
        done
        [ $found = yes ] || return 1  # another pipeline's tag
    done
    return 0
}

# add_ok: the new task $new passes every rule.
add_ok() {
    tags_of "$new"
    [ "$tags" = '?' ] && return 1
    any_pipeline_tag "$tags" && return 1
    pick "$tags"
    [ "$picked" != '?' ]
}

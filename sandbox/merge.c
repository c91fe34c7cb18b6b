/* placeholder */ typedef int mrun_placeholder_merge;

#!/usr/bin/python3
# Check every #include "..." line of the tree against tests/layering.txt.
# and the p2v-* libraries each CMakeLists.txt links against the same table.
# Usage: check-layering.py SOURCE_DIR [TABLE]
# Prints one line per violation (FILE:LINE: what and which edge) and exits
# 1 if there is any, or if the table itself is wrong (unknown module,
# cycle; said on stderr).
import os
import re
import sys

root = sys.argv[1]
table_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "tests/layering.txt")
CHECKED = ["converter", "common", "p2v-agent", "p2v-live", "drivers-inject"]

modules = {}                    # name -> (folder, set of allowed modules)
for line in open(table_path):
    line = line.split("#", 1)[0].split()
    if line:
        modules[line[0]] = (line[1], set(line[2:]))
for name, (_, deps) in modules.items():
    for d in deps:
        if d not in modules:
            sys.exit(f"{table_path}: module {name} names unknown module {d}")

# One way only: no cycle in the table.
state = {}
def visit(m, path):
    if state.get(m) == 1:
        sys.exit(f"{table_path}: dependency cycle {' -> '.join(path + [m])}")
    if state.get(m) == 2:
        return
    state[m] = 1
    for d in sorted(modules[m][1]):
        visit(d, path + [m])
    state[m] = 2
for m in modules:
    visit(m, [])

def module_of(rel):
    best = None
    for name, (folder, _) in modules.items():
        if rel == folder or rel.startswith(folder + "/"):
            if best is None or len(folder) > len(modules[best][0]):
                best = name
    return best

# common/ headers are included by their name alone: it must be unique.
flat = {}
for dirpath, _, files in os.walk(os.path.join(root, "common")):
    for f in files:
        if f.endswith(".h"):
            rel = os.path.relpath(os.path.join(dirpath, f), root)
            if f in flat:
                sys.exit(f"common/ has two headers named {f}: {flat[f]} and {rel}")
            flat[f] = rel

include_re = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
errors = 0
def bad(where, msg):
    global errors
    errors += 1
    print(f"{where}: {msg}")

for top in CHECKED:
    for dirpath, _, files in os.walk(os.path.join(root, top)):
        for f in sorted(files):
            if not f.endswith((".c", ".h")):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), root)
            me = module_of(rel)
            if me is None:
                bad(rel, "not in any module of tests/layering.txt")
                continue
            reldir = os.path.dirname(rel)
            with open(os.path.join(root, rel), errors="replace") as fp:
                for n, text in enumerate(fp, 1):
                    m = include_re.match(text)
                    if not m:
                        continue
                    inc = m.group(1)
                    where = f"{rel}:{n}"
                    if "/" in inc and os.path.exists(os.path.join(root, "converter", inc)):
                        target = os.path.normpath(os.path.join("converter", inc))
                    elif "/" not in inc and os.path.exists(os.path.join(root, reldir, inc)):
                        target = os.path.join(reldir, inc)
                        if target.startswith("converter/") and reldir != "converter":
                            bad(where, f'#include "{inc}": name the folder '
                                       f'("{os.path.relpath(target, "converter")}")')
                            continue
                    elif inc in flat:
                        target = flat[inc]
                    else:
                        bad(where, f'#include "{inc}": no such header in converter/ or common/')
                        continue
                    them = module_of(target)
                    if them is None:
                        bad(where, f'#include "{inc}": {target} is not in any module')
                    elif them != me and them not in modules[me][1]:
                        bad(where, f'#include "{inc}": {me} -> {them} is not allowed '
                                   f'(tests/layering.txt)')
                    elif them != me and inc.endswith("-internal.h"):
                        bad(where, f'#include "{inc}": {target} is internal to {them}')
# The build says the same: each library or program links exactly the
# p2v-* libraries of the modules its module may use.
target_re = re.compile(r'add_(?:library|executable)\(\s*([\w-]+)\s+(?:STATIC\s+)?([^\s)]+)')
link_re = re.compile(r'target_link_libraries\(\s*([\w-]+)([^)]*)\)', re.S)
targets = {}                    # p2v-* target -> module
links = {}                      # target -> (CMakeLists.txt, set of p2v-* targets)
for top in CHECKED:
    for dirpath, _, files in os.walk(os.path.join(root, top)):
        if "CMakeLists.txt" not in files:
            continue
        path = os.path.join(dirpath, "CMakeLists.txt")
        text = re.sub(r"#[^\n]*", "", open(path).read())
        reldir = os.path.relpath(dirpath, root)
        for name, first in target_re.findall(text):
            targets[name] = module_of(os.path.normpath(os.path.join(reldir, first)))
        for name, args in link_re.findall(text):
            libs = {a for a in args.split() if a.startswith("p2v-")}
            links.setdefault(name, (os.path.relpath(path, root), set()))[1].update(libs)
module_links = {}               # module -> (a CMakeLists.txt, modules linked)
for name, (path, libs) in sorted(links.items()):
    me = targets.get(name)
    if me is None:
        continue
    linked = set()
    for lib in libs:
        them = targets.get(lib)
        if them is None:
            bad(path, f"{name} links {lib}, which no CMakeLists.txt of the tree defines")
        elif them != me and them not in modules[me][1]:
            bad(path, f"{name} links {lib}: {me} -> {them} is not allowed (tests/layering.txt)")
        linked.add(them)
    module_links.setdefault(me, (path, set()))[1].update(linked)
# A module's targets together (p2v-live and p2v-live-core) link all it may use.
for me, (path, linked) in sorted(module_links.items()):
    for missing in sorted(modules[me][1] - linked):
        bad(path, f"{me} does not link {missing}, which tests/layering.txt gives it: "
                  f"link it or take it out of the table")

sys.exit(1 if errors else 0)

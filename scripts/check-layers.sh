#!/usr/bin/env bash
# The folders are layers (README "How it works"); each may include only the ones below it:
#
#   app        -> effects, watch, kube, reducers, core   (the process: the only code that sees all)
#   effects    -> kube, core
#   watch      -> kube, core
#   kube       -> core                                    (the Kubernetes client)
#   reducers   -> core                                    (pure)
#   core       -> (nothing of ours)
#   kube-sim   -> (nothing of ours: the simulated cluster stands alone)
#
# The build enforces the project part (each library sees only its layers' headers:
# qpu_layer_view in CMakeLists.txt); this check reads the sources, so it also catches system
# libraries a layer must not use (no Asio, libpq or spdlog in the reducers, no network or logging
# in core) and runs without a build. Exit 1 and one line per offending include.
#   scripts/check-layers.sh [ROOT]
set -euo pipefail
root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$root"

declare -A allowed=(
  [core]="core"
  [reducers]="core reducers"
  [kube]="core kube"
  [watch]="core kube watch"
  [effects]="core kube effects"
  [app]="core reducers kube watch effects app"
  [kube-sim]=""
)
# System headers a layer must not include (extended regular expressions on the <...> name).
declare -A forbidden=(
  [core]='^(boost/|spdlog/|libpq|openssl/|yaml-cpp/|CLI/|sys/socket|netinet/|thread>|random>)'
  [reducers]='^(boost/|spdlog/|libpq|openssl/|yaml-cpp/|CLI/|simdjson|nlohmann/|sys/|unistd|fcntl|chrono>|ctime>|random>|thread>|mutex>|fstream>|iostream>|filesystem>)'
  [kube]='^(libpq|CLI/)'
  [watch]='^(libpq|CLI/)'
  [effects]='^(CLI/)'
  [app]=''
  [kube-sim]=''
)
project_folders="core reducers kube watch effects app kube-sim tests"

status=0
for layer in core reducers kube watch effects app kube-sim; do
  [ -d "$layer" ] || { echo "check-layers: folder $layer/ is missing" >&2; status=1; continue; }
  while IFS= read -r file; do
    # kube-sim's own tests are tests: they may use anything of kube-sim's.
    case $file in kube-sim/tests/*) continue ;; esac
    while IFS= read -r line; do
      no=${line%%:*}
      text=${line#*:}
      if [[ $text =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]]; then
        inc=${BASH_REMATCH[1]}
        top=${inc%%/*}
        [ "$top" = "$inc" ] && continue  # a file beside this one
        case " $project_folders " in *" $top "*) ;; *) continue ;; esac
        case " ${allowed[$layer]} " in
          *" $top "*) ;;
          *) echo "$file:$no: $layer/ includes \"$inc\": $layer may include only: ${allowed[$layer]:-nothing of the project}"; status=1 ;;
        esac
      elif [[ $text =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\<([^\>]+\>?) ]]; then
        inc=${BASH_REMATCH[1]}
        pattern=${forbidden[$layer]}
        if [ -n "$pattern" ] && [[ $inc =~ $pattern ]]; then
          echo "$file:$no: $layer/ includes <${inc%>}>, which this layer must not use"
          status=1
        fi
      fi
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include' "$file" || true)
  done < <(find "$layer" -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' \) | sort)
done
if [ $status -eq 0 ]; then
  echo "check-layers: the folders form a strict stack (core < reducers | kube < watch | effects < app; kube-sim apart)"
fi
exit $status

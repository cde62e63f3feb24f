# Included by effects/CMakeLists.txt: the generated job_scripts.cpp (see embed.cmake).
file(GLOB QPU_JOB_SCRIPT_FILES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/scripts/*.sh)
set(QPU_JOB_SCRIPTS_CPP ${CMAKE_CURRENT_BINARY_DIR}/generated/job_scripts.cpp)
add_custom_command(
  OUTPUT ${QPU_JOB_SCRIPTS_CPP}
  COMMAND ${CMAKE_COMMAND} -DSCRIPTS_DIR=${CMAKE_CURRENT_SOURCE_DIR}/scripts -DOUT=${QPU_JOB_SCRIPTS_CPP}
          -P ${CMAKE_CURRENT_SOURCE_DIR}/scripts/embed.cmake
  DEPENDS ${QPU_JOB_SCRIPT_FILES} ${CMAKE_CURRENT_SOURCE_DIR}/scripts/embed.cmake
  COMMENT "Embedding the Job scripts (effects/scripts/*.sh)")

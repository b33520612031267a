# Turns bpf/*.bpf.c sources into one linked BPF object and one bpftool skeleton header
# (Falco modern_bpf style): each source is compiled alone, `bpftool gen object` links
# them, `bpftool gen skeleton` emits the header user space includes.
#
#   mw_bpf_object(<name>
#       SOURCES <a.bpf.c> ...
#       INCLUDES <dir> ...
#       VMLINUX_DIR <dir>
#       DEPENDS <extra file> ...)   # e.g. a generated vmlinux.h
#
# Produces: ${CMAKE_CURRENT_BINARY_DIR}/<name>.bpf.o, <name>.skel.h and an INTERFACE
# target <name>_skeleton whose include dir holds the header.

find_program(MW_BPF_CLANG NAMES clang-14 clang REQUIRED)
find_program(MW_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

function(mw_bpf_object name)
  cmake_parse_arguments(ARG "" "VMLINUX_DIR" "SOURCES;INCLUDES;DEPENDS" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "mw_bpf_object(${name}): no SOURCES")
  endif()

  set(arch_define)
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
    set(arch_define -D__TARGET_ARCH_x86)
  elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
    set(arch_define -D__TARGET_ARCH_arm64)
  else()
    message(FATAL_ERROR "mw_bpf_object: unsupported architecture ${CMAKE_SYSTEM_PROCESSOR}")
  endif()

  set(include_flags)
  foreach(dir IN LISTS ARG_INCLUDES ARG_VMLINUX_DIR)
    list(APPEND include_flags -I${dir})
  endforeach()

  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/${name}.objs)
  file(MAKE_DIRECTORY ${out_dir})
  set(objects)
  foreach(src IN LISTS ARG_SOURCES)
    get_filename_component(src_abs ${src} ABSOLUTE)
    get_filename_component(stem ${src} NAME_WE)
    set(obj ${out_dir}/${stem}.bpf.o)
    # -MD + DEPFILE: a change in any included header (maps.h, events.h, vmlinux.h)
    # rebuilds the objects that include it.
    add_custom_command(
      OUTPUT ${obj}
      COMMAND ${MW_BPF_CLANG} -g -O2 -target bpf -Wall -Werror ${arch_define}
              ${include_flags} -MD -MF ${obj}.d -c ${src_abs} -o ${obj}
      DEPENDS ${src_abs} ${ARG_DEPENDS}
      DEPFILE ${obj}.d
      COMMENT "bpf: compiling ${stem}.bpf.c"
      VERBATIM)
    list(APPEND objects ${obj})
  endforeach()

  set(linked ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(skel_dir ${CMAKE_CURRENT_BINARY_DIR}/include)
  set(skel ${skel_dir}/${name}.skel.h)
  add_custom_command(
    OUTPUT ${linked}
    COMMAND ${MW_BPFTOOL} gen object ${linked} ${objects}
    DEPENDS ${objects}
    COMMENT "bpf: linking ${name}.bpf.o"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${skel_dir}
    COMMAND sh -c "\"$1\" gen skeleton \"$2\" name \"$3\" > \"$4.tmp\" && mv \"$4.tmp\" \"$4\""
            mw-skel ${MW_BPFTOOL} ${linked} ${name} ${skel}
    DEPENDS ${linked}
    COMMENT "bpf: generating ${name}.skel.h"
    VERBATIM)

  add_custom_target(${name}_skeleton_gen DEPENDS ${skel})
  add_library(${name}_skeleton INTERFACE)
  add_dependencies(${name}_skeleton ${name}_skeleton_gen)
  target_include_directories(${name}_skeleton INTERFACE ${skel_dir})
  set(${name}_BPF_OBJECT ${linked} PARENT_SCOPE)
endfunction()

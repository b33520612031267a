# Warning and sanitizer flags as interface targets: link mw_warnings from every target.
add_library(mw_warnings INTERFACE)
target_compile_options(mw_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wconversion -Wno-sign-conversion>
  $<$<COMPILE_LANGUAGE:C>:-Wall -Wextra>)
if(MW_SANITIZE)
  target_compile_options(mw_warnings INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer)
  target_link_options(mw_warnings INTERFACE -fsanitize=address,undefined)
endif()

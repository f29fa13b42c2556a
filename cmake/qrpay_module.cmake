# qrpay_module(NAME SOURCES a.cc b.cc DEPS x y TESTS a_test.cc TEST_DEPS z HEADERS a.h)
# builds the static library qrpay_<NAME> and, when TESTS are given, the test binary
# qrpay_<NAME>_tests whose cases CTest discovers. Each of HEADERS (paths inside src/<NAME>/)
# then compiles on its own (STYLE 2.2): one generated file per header, built with the tests.
set(QRPAY_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Werror)
# GCC 12 reports maybe-uninitialized for std::variant/std::optional members at -O2 and above
# (GCC bug 105562 and relatives); those are false positives, so the warning stays off for GCC.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC bug 105329: -Wrestrict false positives in std::string concatenation at -O3.
    list(APPEND QRPAY_WARNINGS -Wno-maybe-uninitialized -Wno-restrict)
endif()

function(qrpay_module NAME)
    cmake_parse_arguments(M "" "" "SOURCES;DEPS;TESTS;TEST_DEPS;HEADERS" ${ARGN})
    add_library(qrpay_${NAME} STATIC ${M_SOURCES})
    target_include_directories(qrpay_${NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    target_compile_options(qrpay_${NAME} PRIVATE ${QRPAY_WARNINGS})
    target_link_libraries(qrpay_${NAME} PUBLIC ${M_DEPS})
    if(M_TESTS)
        add_executable(qrpay_${NAME}_tests ${M_TESTS})
        target_compile_options(qrpay_${NAME}_tests PRIVATE ${QRPAY_WARNINGS})
        target_link_libraries(qrpay_${NAME}_tests PRIVATE qrpay_${NAME} ${M_TEST_DEPS}
                              GTest::gtest GTest::gtest_main)
        gtest_discover_tests(qrpay_${NAME}_tests DISCOVERY_TIMEOUT 60
                             PROPERTIES LABELS unit)
    endif()
    if(M_HEADERS)
        set(checks)
        foreach(header IN LISTS M_HEADERS)
            string(MAKE_C_IDENTIFIER "${header}" check_name)
            set(check_file "${CMAKE_CURRENT_BINARY_DIR}/header_check/${check_name}.cc")
            file(CONFIGURE OUTPUT "${check_file}" CONTENT "#include \"${NAME}/${header}\"\n")
            list(APPEND checks "${check_file}")
        endforeach()
        add_library(qrpay_${NAME}_header_check OBJECT EXCLUDE_FROM_ALL ${checks})
        target_compile_options(qrpay_${NAME}_header_check PRIVATE ${QRPAY_WARNINGS})
        target_link_libraries(qrpay_${NAME}_header_check PRIVATE qrpay_${NAME} ${M_TEST_DEPS})
        add_dependencies(qrpay_${NAME}_tests qrpay_${NAME}_header_check)
    endif()
endfunction()

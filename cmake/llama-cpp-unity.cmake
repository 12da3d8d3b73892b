# Included by llama.cpp's CMake project right after its `project()` call
# (CMAKE_PROJECT_llama.cpp_INCLUDE, set in .cargo/config.toml; llama-cpp-sys-2
# passes every CMAKE_* variable to CMake). It turns on unity builds for the two
# libraries llama-cpp-2 links that upstream compiles file by file: `common`
# (52 files, each re-parsing the same JSON and chat headers) and `mtmd`.
# Measured on the 2-core build machine: 8.4 CPU-minutes -> 3.2 for those two.
# llama.cpp's own `llama` library already builds its model files this way.
cmake_language(DEFER CALL _shopfloor_llama_unity_build)

function(_shopfloor_llama_unity_build)
    foreach(target llama-common mtmd)
        if(TARGET ${target})
            set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 16)
        endif()
    endforeach()
    # mtmd-helper is a public library kept apart from mtmd's internals; both
    # files `#error` if compiled after an internal header, as a unity batch would.
    set(mtmd_dir "${CMAKE_SOURCE_DIR}/tools/mtmd")
    if(EXISTS "${mtmd_dir}")
        set_source_files_properties("${mtmd_dir}/mtmd-helper.cpp" "${mtmd_dir}/mtmd-helper-gen.cpp"
            DIRECTORY "${mtmd_dir}" PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
    endif()
endfunction()

// Clang thread-safety annotations: which lock guards which member, and which functions need
// it. Checked by -Wthread-safety (CMake option FERRY_THREAD_SAFETY_ANALYSIS); no-ops elsewhere.
#pragma once

// Only clang understands these attributes; other compilers see nothing.
#if defined(__clang__) && !defined(SWIG)
#define FERRY_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define FERRY_THREAD_ANNOTATION_(x)
#endif

// A type whose objects are locks ("mutex" names the kind in the analysis' messages).
#define CAPABILITY(x) FERRY_THREAD_ANNOTATION_(capability(x))
// An RAII type that holds a lock from its constructor to its destructor.
#define SCOPED_CAPABILITY FERRY_THREAD_ANNOTATION_(scoped_lockable)

// A member read or written only with the lock held.
#define GUARDED_BY(x) FERRY_THREAD_ANNOTATION_(guarded_by(x))
// A pointer member whose pointee is read or written only with the lock held.
#define PT_GUARDED_BY(x) FERRY_THREAD_ANNOTATION_(pt_guarded_by(x))

// Lock order: this lock is taken after (or before) the named ones.
#define ACQUIRED_AFTER(...) FERRY_THREAD_ANNOTATION_(acquired_after(__VA_ARGS__))
#define ACQUIRED_BEFORE(...) FERRY_THREAD_ANNOTATION_(acquired_before(__VA_ARGS__))

// The caller must hold the lock(s) (exclusively / at least shared).
#define REQUIRES(...) FERRY_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) FERRY_THREAD_ANNOTATION_(requires_shared_capability(__VA_ARGS__))
// The caller must not hold the lock(s): the function takes them itself.
#define EXCLUDES(...) FERRY_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))

// The function takes (releases) the lock(s) and returns with them held (released).
#define ACQUIRE(...) FERRY_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#define RELEASE(...) FERRY_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) FERRY_THREAD_ANNOTATION_(try_acquire_capability(__VA_ARGS__))
// The function checks at run time that the lock is held; the analysis then assumes it is.
#define ASSERT_CAPABILITY(x) FERRY_THREAD_ANNOTATION_(assert_capability(x))
// The function returns a reference to the named lock.
#define RETURN_CAPABILITY(x) FERRY_THREAD_ANNOTATION_(lock_returned(x))

// The analysis cannot follow this function (say why where it is used).
#define NO_THREAD_SAFETY_ANALYSIS FERRY_THREAD_ANNOTATION_(no_thread_safety_analysis)

/* The string map: put, get, remove (backward shift), growth, iteration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "gw_map.h"

static void test_map_put_get_remove_survive_growth(void **state)
{
    (void)state;
    gw_map_t *m = gw_map_new();
    char key[32];
    for (intptr_t i = 1; i <= 5000; i++) {
        snprintf(key, sizeof(key), "rep-%ld", (long)i);
        assert_int_equal(gw_map_put(m, key, (void *)i), 0);
    }
    assert_int_equal(gw_map_count(m), 5000);
    /* Remove every third; the rest must still be found (probe chains intact). */
    for (intptr_t i = 1; i <= 5000; i += 3) {
        snprintf(key, sizeof(key), "rep-%ld", (long)i);
        assert_int_equal((intptr_t)gw_map_remove(m, key), i);
    }
    for (intptr_t i = 1; i <= 5000; i++) {
        snprintf(key, sizeof(key), "rep-%ld", (long)i);
        intptr_t v = (intptr_t)gw_map_get(m, key);
        assert_int_equal(v, (i - 1) % 3 == 0 ? 0 : i);
    }
    assert_null(gw_map_remove(m, "absent"));
    size_t it = 0, seen = 0;
    while (gw_map_next(m, &it, NULL, NULL))
        seen++;
    assert_int_equal(seen, gw_map_count(m));
    assert_int_equal(seen, 5000 - 1667);
    assert_int_equal(gw_map_put(m, "rep-2", (void *)7), 0);
    assert_int_equal((intptr_t)gw_map_get(m, "rep-2"), 7);
    assert_int_equal(gw_map_count(m), 5000 - 1667);
    gw_map_free(m, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_put_get_remove_survive_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

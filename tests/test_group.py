"""The choice of a link in a route group (appliance.roles.bank.group)."""
from types import SimpleNamespace

from appliance.roles.bank.gateway import Gateway
from appliance.roles.bank.group import Group


def group(*up):
    links = {name: SimpleNamespace(name=name, is_up=name in up) for name in 'abc'}
    return Group('abc', {n: Gateway(link) for n, link in links.items()}), links


def names(gateways):
    return [g.name for g in gateways]


def test_requests_take_the_live_links_in_turn_and_skip_the_ones_down():
    g, _ = group('a', 'c')
    assert [names(g.candidates())[0] for _ in range(4)] == ['a', 'c', 'a', 'c']
    assert names(g.candidates()) in (['a', 'c'], ['c', 'a'])


def test_a_preferred_link_comes_first_while_it_is_up():
    g, links = group('a', 'b', 'c')
    assert [names(g.candidates('b'))[0] for _ in range(3)] == ['b', 'b', 'b']
    links['b'].is_up = False
    assert 'b' not in names(g.candidates('b'))


def test_with_no_link_up_one_member_is_tried_alone():
    g, _ = group()
    assert names(g.candidates('b')) == ['b']
    assert len(g.candidates()) == 1
    assert g.down_message() == 'every link of group a, b, c is down'


def test_a_lone_host_is_tried_even_when_down_and_named_as_before():
    g = Group(['kota_bogor'], {'kota_bogor': Gateway(SimpleNamespace(name='kota_bogor',
                                                                      is_up=False))})
    assert names(g.candidates()) == ['kota_bogor']
    assert g.down_message() == 'link kota_bogor is down'
